"""`time_messages`: the one per-message timer, interleaved across runners, warm and cold."""

import gc
import os
import time
from collections.abc import Mapping

import keras
import numpy as np

from keras_compress import metrics

MODES = ("warm", "cold")
STATS = ("mean", "median", "p90")


def time_messages(runners, texts, *, rounds=1, modes=MODES, warmup=10, seed=0, progress=True,
                  include_tokenization=False, limits=None):
    """Times `runners` message by message, at batch 1, interleaved.

    Every message runs on all runners, in a fresh random order (seeded), before the next
    message, so load from other jobs on a shared machine falls on all runners alike (the
    first runner of a message is never the last of the one before). Each runner runs the
    message twice in a row: "cold" is the first call, right after another runner ran (whose weights evicted this one's from the CPU caches); "warm" the repeat,
    as on a server that runs only this model. With one mode only, "warm" still makes the
    (untimed) first call and "cold" makes one call. A message's time is its median over
    `rounds`. Python's garbage collector is off while timing.

    Runners with `prepare(text)` and `run(prepared)` (`KerasRunner`, `TFLiteRunner`) are
    timed on `run` alone (the model); `prepare` (tokenize and pack) is timed once per
    message before and reported as the mode `"prepare"`. `include_tokenization=True`
    times the whole `runner(text)` instead.

    Args:
        runners: `Runner`s (a `name` and a call from one text to its logits); names unique.
        texts: the messages (strings).
        rounds: timed passes over the messages (int >= 1).
        modes: which calls to time, any of `("warm", "cold")`.
        warmup: untimed calls per runner first, over one message per distinct packed
            shape (every bucket traced and warmed), repeated up to `warmup` calls.
        seed: the seed of the runner orders.
        progress: show a Keras progress bar (one step per message and round).
        include_tokenization: time `runner(text)` whole (see above).
        limits: `{name: n}`: time that runner on the first `n` messages only (a slow one).

    Returns:
        `Timings`.

    Example:

    >>> class Echo:
    ...     name = "echo"
    ...     def __call__(self, text):
    ...         return np.array([len(text), 3.0])
    >>> timings = time_messages([Echo()], ["a", "abcd"], warmup=0, progress=False)
    >>> timings.predictions("echo"), sorted(timings.stats("echo"))
    ([1, 0], ['mean_ms', 'median_ms', 'p90_ms'])
    """
    runners, texts, modes, limits = _check(runners, texts, rounds, modes, warmup, limits)
    names = [runner.name for runner in runners]
    counts = {name: min(limits.get(name, len(texts)), len(texts)) for name in names}
    calls, inputs, prepare_ms = {}, {}, {}
    for runner in runners:
        staged = callable(getattr(runner, "prepare", None)) and callable(getattr(runner, "run", None))
        if staged:
            prepared, spent = [], []
            for text in texts[: counts[runner.name]]:
                begin = time.perf_counter()
                prepared.append(runner.prepare(text))
                spent.append(time.perf_counter() - begin)
            prepare_ms[runner.name] = 1e3 * np.asarray(spent)
        if staged and not include_tokenization:
            calls[runner.name], inputs[runner.name] = runner.run, prepared
        else:
            calls[runner.name], inputs[runner.name] = runner, list(texts[: counts[runner.name]])
        if warmup:
            keys = [_shape_key(p) for p in prepared] if staged else [None] * counts[runner.name]
            firsts = {}
            for i, key in enumerate(keys):
                firsts.setdefault(key, i)
            firsts = list(firsts.values())
            for i in (firsts * warmup)[: max(warmup, len(firsts))]:
                calls[runner.name](inputs[runner.name][i])

    timed = {mode: {name: np.zeros((rounds, counts[name])) for name in names} for mode in modes}
    predicted = {name: [0] * counts[name] for name in names}
    rng = np.random.default_rng(seed)
    last = None
    bar = keras.utils.Progbar(rounds * len(texts), unit_name="message") if progress else None
    load_before = os.getloadavg()
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for round_index in range(rounds):
            for i in range(len(texts)):
                active = [name for name in names if i < counts[name]]
                order = [active[index] for index in rng.permutation(len(active))]
                if len(order) > 1 and order[0] == last:  # "cold" must follow another runner
                    swap = 1 + int(rng.integers(len(order) - 1))
                    order[0], order[swap] = order[swap], order[0]
                for name in order:
                    call, message = calls[name], inputs[name][i]
                    begin = time.perf_counter()
                    outputs = call(message)
                    spent = time.perf_counter() - begin
                    if "cold" in modes:
                        timed["cold"][name][round_index, i] = spent
                    if "warm" in modes:
                        begin = time.perf_counter()
                        outputs = call(message)
                        timed["warm"][name][round_index, i] = time.perf_counter() - begin
                    predicted[name][i] = int(np.argmax(outputs))
                    last = name
                if bar is not None:
                    bar.update(round_index * len(texts) + i + 1)
    finally:
        if was_enabled:
            gc.enable()
    per_message = {mode: {name: 1e3 * np.median(t, axis=0) for name, t in found.items()}
                   for mode, found in timed.items()}
    if prepare_ms:
        per_message["prepare"] = prepare_ms
    return Timings(names, per_message, predicted, rounds=rounds, modes=modes, warmup=warmup,
                   seed=seed, include_tokenization=include_tokenization,
                   load_average={"before": [round(x, 2) for x in load_before],
                                 "after": [round(x, 2) for x in os.getloadavg()]})


class Timings:
    """What `time_messages` returns: per-message times (ms) and predictions per runner.

    `per_message_ms[mode][name]` is an array over the messages that runner ran (the
    median over rounds); mode `"prepare"` holds the untimed-in-the-loop tokenization of
    staged runners.
    """

    def __init__(self, names, per_message_ms, predictions, **settings):
        self.names = list(names)
        self.per_message_ms = per_message_ms
        self._predictions = predictions
        self.settings = settings

    @property
    def modes(self):
        return tuple(self.per_message_ms)

    def times(self, name, mode="warm"):
        """The per-message times in ms of `name` in `mode` (a 1-D array)."""
        self._check_name(name)
        if mode not in self.per_message_ms:
            raise ValueError(f"`mode` must be one of {list(self.per_message_ms)}; received "
                             f"{mode!r}.")
        if name not in self.per_message_ms[mode]:
            raise ValueError(f"runner {name!r} has no {mode!r} times (it has no prepare step).")
        return self.per_message_ms[mode][name]

    def messages(self, name):
        """How many messages `name` ran."""
        self._check_name(name)
        return len(self._predictions[name])

    def stats(self, name, mode="warm"):
        """`{"mean_ms", "median_ms", "p90_ms"}` over the messages of `name` in `mode`."""
        return _stats(self.times(name, mode))

    def speedup(self, reference, name, mode="warm", stat="median"):
        """`reference`'s time / `name`'s time (`stat` of the per-message times, over the
        messages both ran): above 1 when `name` is faster."""
        if stat not in STATS:
            raise ValueError(f"`stat` must be one of {list(STATS)}; received {stat!r}.")
        ref, own = self.times(reference, mode), self.times(name, mode)
        n = min(len(ref), len(own))
        return _stats(ref[:n])[f"{stat}_ms"] / _stats(own[:n])[f"{stat}_ms"]

    def predictions(self, name):
        """The argmax of each message's logits (of the last round), as ints."""
        self._check_name(name)
        return list(self._predictions[name])

    def scores(self, name, labels):
        """`{"macro_f1", "accuracy"}` of `name`'s predictions against `labels` (int class
        ids, one per message; only the messages it ran count)."""
        predicted = self.predictions(name)
        labels = list(labels)[: len(predicted)]
        return {"macro_f1": metrics.macro_f1(labels, predicted),
                "accuracy": metrics.accuracy(labels, predicted)}

    def rows(self, reference=None, modes=None):
        """One dict per runner for `format_table`: its messages, mean/median/p90 ms per
        mode and, with `reference`, the median speed-up against it per mode."""
        modes = [m for m in (modes or MODES) if m in self.per_message_ms]
        rows = []
        for name in self.names:
            row = {"runner": name, "messages": self.messages(name)}
            for mode in modes:
                for key, value in self.stats(name, mode).items():
                    row[f"{mode} {key.replace('_ms', '')} ms"] = value
            if reference is not None:
                for mode in modes:
                    row[f"{mode} speed-up"] = self.speedup(reference, name, mode)
            rows.append(row)
        return rows

    def to_dict(self, per_message=False):
        """A JSON-able dict: settings, and per runner its messages, stats per mode and
        predictions (and its per-message ms with `per_message=True`)."""
        runners = {}
        for name in self.names:
            entry = {"messages": self.messages(name)}
            for mode, found in self.per_message_ms.items():
                if name in found:
                    entry[mode] = self.stats(name, mode)
                    if per_message:
                        entry[mode]["per_message_ms"] = [float(x) for x in found[name]]
            entry["predictions"] = self.predictions(name)
            runners[name] = entry
        settings = {key: list(value) if isinstance(value, tuple) else value
                    for key, value in self.settings.items()}
        return {**settings, "runners": runners}

    def _check_name(self, name):
        if name not in self._predictions:
            raise KeyError(f"no runner named {name!r}; timed: {self.names}.")

    def __repr__(self):
        return f"Timings({self.names}, modes={list(self.modes)})"


def _stats(ms):
    ms = np.asarray(ms, dtype="float64")
    return {"mean_ms": float(ms.mean()), "median_ms": float(np.median(ms)),
            "p90_ms": float(np.percentile(ms, 90))}


def _shape_key(prepared):
    if isinstance(prepared, Mapping):
        return tuple(np.shape(value) for value in prepared.values())
    return np.shape(prepared)


def _check(runners, texts, rounds, modes, warmup, limits):
    runners = list(runners)
    if not runners:
        raise ValueError("`runners` is empty; pass at least one runner.")
    for runner in runners:
        if not callable(runner) or not isinstance(getattr(runner, "name", None), str):
            raise TypeError(
                "every runner must be callable (one text -> logits) with a `name` string; "
                f"received {runner!r}."
            )
    names = [runner.name for runner in runners]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"runner names must be unique; repeated: {repeated}.")
    if isinstance(texts, str):
        raise TypeError("`texts` must be a list of strings, not one string.")
    texts = list(texts)
    if not texts or not all(isinstance(text, str) for text in texts):
        raise ValueError("`texts` must be a non-empty list of strings.")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"`rounds` must be an int >= 1; received {rounds!r}.")
    if isinstance(modes, str):
        modes = (modes,)
    modes = tuple(dict.fromkeys(modes))
    if not modes or any(mode not in MODES for mode in modes):
        raise ValueError(f"`modes` must be a non-empty subset of {list(MODES)}; received "
                         f"{list(modes)}.")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"`warmup` must be an int >= 0; received {warmup!r}.")
    limits = dict(limits or {})
    for name, limit in limits.items():
        if name not in names:
            raise ValueError(f"`limits` names {name!r}, which is not a runner; runners: {names}.")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"`limits[{name!r}]` must be an int >= 1; received {limit!r}.")
    return runners, texts, modes, limits
