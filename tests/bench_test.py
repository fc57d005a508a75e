"""keras_compress.bench: the interleaved per-message timer, its runners, the table and machine."""

import json
import types

import keras
import numpy as np
import pytest

from keras_compress import bench
from keras_compress.bench import (
    KerasRunner,
    Runner,
    TFLiteRunner,
    Timings,
    format_table,
    machine,
    time_messages,
)
from keras_compress.bench import timing as timing_module


class Clock:
    """A fake `time.perf_counter` that only fake runners move, plus a log of the calls."""

    def __init__(self):
        self.now = 0.0
        self.calls = []  # (runner name, input) in call order

    def perf_counter(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timing_module, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    return clock


class Fake:
    """A runner that costs `cold_ms` when another runner (or nothing) ran last, `warm_ms`
    when it ran last itself; `cost(round, message)` overrides both. Logits: one-hot at
    `label(text)`."""

    def __init__(self, clock, name, cold_ms=5.0, warm_ms=1.0, cost=None, classes=4):
        self.clock, self.name = clock, name
        self.cold_ms, self.warm_ms, self.cost, self.classes = cold_ms, warm_ms, cost, classes
        self.timed = False  # the tests switch this on after warm-up

    def __call__(self, text):
        log = self.clock.calls
        warm = bool(log) and log[-1][0] == self.name
        log.append((self.name, text))
        if self.cost is not None:
            message = int(text.split()[-1])
            seen = sum(1 for n, t in log if n == self.name and t == text)
            self.clock.now += self.cost(seen, message) / 1e3
        else:
            self.clock.now += (self.warm_ms if warm else self.cold_ms) / 1e3
        logits = np.zeros(self.classes)
        logits[int(text.split()[-1]) % self.classes] = 1.0
        return logits


TEXTS = [f"message {i}" for i in range(12)]


def timed_calls(clock, runners, warmup):
    """The calls of the timed loop (the warm-up ones removed)."""
    return clock.calls[warmup * len(runners):]


def test_every_message_runs_on_all_runners_before_the_next_in_fresh_orders(clock):
    runners = [Fake(clock, name) for name in "abc"]
    time_messages(runners, TEXTS, warmup=1, progress=False, seed=3)
    calls = timed_calls(clock, runners, warmup=1)
    assert len(calls) == 2 * len(runners) * len(TEXTS)  # cold then warm per runner
    orders = []
    for i, text in enumerate(TEXTS):
        block = calls[6 * i: 6 * (i + 1)]
        assert {t for _, t in block} == {text}
        names = [n for n, _ in block]
        assert names[0::2] == names[1::2]  # each runner twice in a row: cold, warm
        assert sorted(names[0::2]) == ["a", "b", "c"]
        orders.append("".join(names[0::2]))
    assert len(set(orders)) > 1  # the order is drawn afresh per message
    clock.calls.clear()
    time_messages([Fake(clock, name) for name in "abc"], TEXTS, warmup=1, progress=False, seed=3)
    again = timed_calls(clock, runners, warmup=1)
    assert ["".join(n for n, _ in again[6 * i: 6 * (i + 1)][0::2]) for i in range(12)] == orders


def test_cold_is_the_call_after_another_runner_and_warm_the_repeat(clock):
    runners = [Fake(clock, "slow", cold_ms=9.0, warm_ms=3.0), Fake(clock, "fast", 4.0, 1.0)]
    timings = time_messages(runners, TEXTS, warmup=0, progress=False)
    for name, cold, warm in (("slow", 9.0, 3.0), ("fast", 4.0, 1.0)):
        for mode, expected in (("cold", cold), ("warm", warm)):
            stats = timings.stats(name, mode)
            assert sorted(stats) == ["mean_ms", "median_ms", "p90_ms"]
            # every cold call followed the other runner (or nothing): never a warm cost
            np.testing.assert_allclose(list(stats.values()), expected)


def test_only_warm_still_makes_the_untimed_first_call_and_only_cold_one_call(clock):
    runner = Fake(clock, "a", cold_ms=7.0, warm_ms=2.0)
    timings = time_messages([runner, Fake(clock, "b")], TEXTS, modes=("warm",), warmup=0,
                            progress=False)
    assert timings.stats("a")["median_ms"] == pytest.approx(2.0)
    assert "cold" not in timings.modes
    with pytest.raises(ValueError, match="mode"):
        timings.stats("a", "cold")
    clock.calls.clear()
    timings = time_messages([runner, Fake(clock, "b")], TEXTS, modes="cold", warmup=0,
                            progress=False)
    assert len(clock.calls) == 2 * len(TEXTS)
    assert timings.stats("a", "cold")["median_ms"] == pytest.approx(7.0)


def test_a_message_time_is_its_median_over_rounds(clock):
    # Round r of message m costs: m + [10, 0, 3][r] ms (the r-th time the runner sees it;
    # cold and warm calls alike count, so with only "cold" timed the r-th call is round r).
    extra = {1: 10.0, 2: 0.0, 3: 3.0}
    runner = Fake(clock, "a", cost=lambda seen, m: m + extra[seen])
    timings = time_messages([runner], TEXTS, rounds=3, modes=("cold",), warmup=0,
                            progress=False)
    expected = np.arange(len(TEXTS)) + 3.0
    np.testing.assert_allclose(timings.times("a", "cold"), expected)
    stats = timings.stats("a", "cold")
    assert stats["mean_ms"] == pytest.approx(expected.mean())
    assert stats["p90_ms"] == pytest.approx(np.percentile(expected, 90))


def test_speedup_is_reference_time_over_runner_time(clock):
    ref = Fake(clock, "ref", cost=lambda seen, m: 10.0 + m)
    fast = Fake(clock, "fast", cost=lambda seen, m: 2.0)
    timings = time_messages([ref, fast], TEXTS, modes=("cold",), warmup=0, progress=False)
    median = np.median(10.0 + np.arange(12))
    assert timings.speedup("ref", "fast", mode="cold") == pytest.approx(median / 2.0)
    assert timings.speedup("ref", "fast", "cold", "mean") == pytest.approx(15.5 / 2.0)
    assert timings.speedup("fast", "ref", "cold") == pytest.approx(2.0 / median)
    with pytest.raises(ValueError, match="stat"):
        timings.speedup("ref", "fast", "cold", "max")
    with pytest.raises(KeyError, match="nope"):
        timings.speedup("ref", "nope", "cold")


def test_predictions_limits_and_to_dict(clock):
    runners = [Fake(clock, "a"), Fake(clock, "b")]
    timings = time_messages(runners, TEXTS, warmup=0, progress=False, limits={"b": 5})
    assert timings.predictions("a") == [i % 4 for i in range(12)]
    assert timings.predictions("b") == [i % 4 for i in range(5)]
    assert timings.messages("b") == 5 and len(timings.times("b", "cold")) == 5
    assert sum(1 for n, _ in clock.calls if n == "b") == 10
    data = json.loads(json.dumps(timings.to_dict(per_message=True)))
    assert data["runners"]["b"]["messages"] == 5
    assert len(data["runners"]["a"]["warm"]["per_message_ms"]) == 12
    assert data["rounds"] == 1 and data["modes"] == ["warm", "cold"]
    rows = timings.rows(reference="a")
    assert rows[0]["warm speed-up"] == pytest.approx(1.0) and rows[1]["messages"] == 5


def test_warmup_covers_every_packed_shape_before_timing(clock):
    class Staged(Fake):
        def prepare(self, text):
            return {"token_ids": np.zeros((1, 8 if int(text.split()[-1]) < 10 else 16))}

        def run(self, packed):
            self.clock.calls.append((self.name, packed["token_ids"].shape[1]))
            return np.ones(2)

    runner = Staged(clock, "s")
    timings = time_messages([runner], TEXTS, warmup=3, progress=False)
    assert [length for _, length in clock.calls[:3]] == [8, 16, 8]
    assert "prepare" in timings.modes and timings.messages("s") == 12


@pytest.mark.parametrize("kwargs, fragment", [
    ({"rounds": 0}, "rounds"), ({"modes": ("hot",)}, "modes"), ({"modes": ()}, "modes"),
    ({"warmup": -1}, "warmup"), ({"limits": {"x": 2}}, "limits"),
    ({"limits": {"a": 0}}, "limits"),
])
def test_bad_arguments_are_named(clock, kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        time_messages([Fake(clock, "a")], TEXTS, progress=False, **kwargs)
    assert clock.calls == []  # checked before anything runs


def test_runner_names_must_be_unique_and_texts_strings(clock):
    with pytest.raises(ValueError, match="unique"):
        time_messages([Fake(clock, "a"), Fake(clock, "a")], TEXTS, progress=False)
    with pytest.raises(TypeError, match="texts"):
        time_messages([Fake(clock, "a")], "one text", progress=False)
    with pytest.raises(ValueError, match="texts"):
        time_messages([Fake(clock, "a")], [], progress=False)
    with pytest.raises(TypeError, match="name"):
        time_messages([lambda text: np.zeros(2)], TEXTS, progress=False)


# --- the real runners on a tiny random BERT ---------------------------------------------

WORDS = ["hello", "there", "book", "a", "demo", "bye", "see", "you", "later", "good", "night"]


def tiny_classifier():
    import keras_hub

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS, lowercase=True)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=32)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=32)
    return keras_hub.models.BertTextClassifier(backbone, 3, preprocessor=preprocessor)


MESSAGES = ["hello there", "book a demo", "bye", "see you later good night " * 3, "good night"]


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    from keras_compress.export import ExportConfig, Parity, to_tflite

    model = tiny_classifier()
    path = tmp_path_factory.mktemp("bench") / "tiny.tflite"
    to_tflite(model, path, ExportConfig(quantization=None, sequence_lengths=(8, 32)),
              parity=Parity(data=MESSAGES), verbose=False)
    return model, path


def test_keras_runner_pads_to_its_length_and_matches_the_model(tiny_export):
    model, _ = tiny_export
    runner = KerasRunner(model, sequence_length=24)
    assert isinstance(runner, Runner) and runner.name == "keras fp32"
    for text in MESSAGES:
        assert runner.prepare(text)["token_ids"].shape == (1, 24)
        expected = np.asarray(model.predict([text], verbose=0))[0]
        np.testing.assert_allclose(runner(text), expected, atol=1e-5)
    with pytest.raises(ValueError, match="sequence_length"):
        KerasRunner(model, sequence_length=2)


def test_keras_runner_without_a_tokenizer_says_so(bert_classifier):
    with pytest.raises(ValueError, match="tokenizer"):
        KerasRunner(bert_classifier)


def test_tflite_runner_uses_the_smallest_bucket_and_matches_keras(tiny_export):
    model, path = tiny_export
    runner = TFLiteRunner(path, threads=1)
    assert runner.name == "tflite tiny.tflite"
    assert runner.prepare("bye")["token_ids"].shape == (1, 8)
    assert runner.prepare(MESSAGES[3])["token_ids"].shape == (1, 32)
    keras_runner = KerasRunner(model, sequence_length=32)
    for text in MESSAGES:
        np.testing.assert_allclose(runner(text), keras_runner(text), atol=1e-4)
    with pytest.raises(ValueError, match="threads"):
        TFLiteRunner(path, threads=0)
    with pytest.raises(TypeError, match="path_or_classifier"):
        TFLiteRunner(3)


def test_time_messages_on_keras_and_tflite(tiny_export):
    model, path = tiny_export
    runners = [KerasRunner(model, sequence_length=32), TFLiteRunner(path, name="tflite")]
    timings = time_messages(runners, MESSAGES * 2, rounds=2, warmup=2, progress=False)
    assert isinstance(timings, Timings)
    assert timings.predictions("keras fp32") == timings.predictions("tflite")
    for name in timings.names:
        for mode in ("warm", "cold", "prepare"):
            stats = timings.stats(name, mode)
            assert 0 < stats["median_ms"] <= stats["p90_ms"]
    assert timings.speedup("keras fp32", "tflite") == pytest.approx(
        timings.stats("keras fp32")["median_ms"] / timings.stats("tflite")["median_ms"])
    json.dumps(timings.to_dict())
    # include_tokenization times the whole call: never faster than the model alone plus 0.
    whole = time_messages(runners[1:], MESSAGES, include_tokenization=True, progress=False)
    assert "prepare" in whole.modes and whole.predictions("tflite") == timings.predictions(
        "tflite")[:5]


def test_keras_runner_with_buckets_and_scores_and_function_runner(tiny_export):
    model, path = tiny_export
    bucketed = KerasRunner(model, sequence_lengths=(8, 32), name="keras buckets")
    assert bucketed.prepare("bye")["token_ids"].shape == (1, 8)
    assert bucketed.prepare(MESSAGES[3])["token_ids"].shape == (1, 32)
    assert bucketed.bucket_share(MESSAGES) == {"8": 0.8, "32": 0.2}
    padded = KerasRunner(model, sequence_length=32)
    calls = []
    function = bench.FunctionRunner(lambda packed: calls.append(1) or padded.run(packed),
                                    name="function", prepare=padded.prepare)
    timings = time_messages([bucketed, padded, function], MESSAGES, modes="cold", warmup=0,
                            progress=False)
    assert len(calls) == len(MESSAGES)
    for text in MESSAGES:
        np.testing.assert_allclose(bucketed(text), padded(text), atol=1e-5)
    labels = timings.predictions("keras fp32")
    assert timings.scores("keras buckets", labels) == {"macro_f1": 1.0, "accuracy": 1.0}
    wrong = [(label + 1) % 3 for label in labels]
    assert timings.scores("function", wrong)["accuracy"] == 0.0


# --- table and machine ------------------------------------------------------------------


def test_format_table_aligns_orders_and_blanks():
    rows = [{"name": "keras fp32", "ms": 12.3456, "ok": True},
            {"name": "a|b", "ms": 123456.7, "extra": None}]
    lines = format_table(rows).splitlines()
    assert lines[0] == "| name       |     ms | ok   | extra |"
    assert lines[1] == "|------------|-------:|------|------:|" or lines[1].startswith("|---")
    assert lines[2] == "| keras fp32 |  12.35 | True |       |"
    assert lines[3] == "| a\\|b       | 123457 |      |       |"
    assert len({len(line) for line in lines}) == 1
    picked = format_table(rows, columns=["ms", "missing"]).splitlines()
    assert picked[0] == "|     ms | missing |" and picked[2].endswith("|         |")
    with pytest.raises(ValueError, match="column"):
        format_table([])
    # numbers formatted as strings are numbers too; text is not
    lines = format_table([{"n": "1,024", "f": "3.1x", "t": "a"}, {"n": "5%", "f": "", "t": "1"}])
    assert lines.splitlines()[1] == "|------:|-----:|-----|"


def test_machine_describes_cpu_load_and_versions():
    import importlib.metadata

    info = machine(packages=("numpy",))
    for key in ("cpu", "cores", "load_average", "platform", "python", "tensorflow", "keras",
                "keras_hub", "ai_edge_litert", "date"):
        assert key in info, key
    assert info["keras"] == keras.__version__
    assert info["numpy"] == importlib.metadata.version("numpy")
    assert len(info["load_average"]) == 3 and info["date"].endswith("+00:00")
    json.dumps(info)
    assert str(info["cores"]) in bench.machine_line(info)
