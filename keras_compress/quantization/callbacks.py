"""`QATToggle`: switch fake quantization on in the middle of `model.fit`."""

import keras

from keras_compress import checks
from keras_compress import trigger as trigger_lib
from keras_compress.layers import qat
from keras_compress.stats_callback import StatsCallback
from keras_compress.surgery import swap, tree


class QATToggle(trigger_lib.Triggered, StatsCallback):
    """Switches int8 fake quantization on mid-fit: train in float, then quantize and recover.

    Targets every `QuantizedDense`, `QuantizedEinsumDense` and
    `QuantizedEmbedding` in the model; swap them in first with
    `keras_compress.swap_layers`. Until the start, the layers run in float and
    only track their activation ranges; from the start on, weights, inputs and
    outputs are fake-quantized. Both switches are variables, so the compiled
    training step is not retraced.

    Steps are the optimizer's global step (`model.optimizer.iterations`, the
    count of batches trained so far), as for the pruning schedules: with
    `start_step=100` the 101st batch is the first one trained quantized. With
    `steps_per_execution > 1` the switch happens at the first execution
    boundary at or after the step.

    Args:
        start_step: global step at which quantization starts; or
        start_epoch: epoch (0-based) at whose first batch it starts. Give
            exactly one of the two, or instead
        trigger: a `keras_compress.callbacks.Trigger` (the two above are
            shortcuts that build one).
        freeze_ranges_after: `None` (activation ranges keep following a moving
            average) or a number of steps after the start after which the
            ranges are frozen (0: frozen at the start).
        include, exclude: regex on the layer path or predicate
            `(layer, path)`, as in `swap_layers`.

    Logs `quantized` (1.0 once quantization is on) and `ranges_frozen`.

    Example:

    >>> import keras, numpy as np, keras_compress
    >>> from keras_compress.layers import QuantizedDense
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16),
    ...                           keras.layers.Dense(1)])
    >>> _ = keras_compress.swap_layers(model, {keras.layers.Dense: QuantizedDense})
    >>> model.compile("adam", "mse")
    >>> toggle = keras_compress.callbacks.QATToggle(start_step=2, freeze_ranges_after=1)
    >>> history = model.fit(np.ones((8, 8)), np.ones((8, 1)), batch_size=2, epochs=2,
    ...                     callbacks=[toggle], verbose=0)
    >>> history.history["quantized"], toggle.started_at, toggle.frozen_at
    ([1.0, 1.0], 2, 3)
    """

    def __init__(self, start_step=None, start_epoch=None, freeze_ranges_after=None,
                 include=None, exclude=None, *, trigger=None):
        super().__init__()
        #: When quantization starts: a `keras_compress.callbacks.Trigger`.
        self.trigger = trigger_lib.resolve(trigger, start_step, start_epoch, "QATToggle")
        if freeze_ranges_after is not None and (
            not checks.is_integer(freeze_ranges_after) or freeze_ranges_after < 0
        ):
            raise ValueError(
                "QATToggle: `freeze_ranges_after` must be None or an integer >= 0; "
                f"received {freeze_ranges_after!r}."
            )
        self.freeze_ranges_after = None if freeze_ranges_after is None else int(freeze_ranges_after)
        self.include = swap.scope_predicate(include, "include", type(self).__name__)
        self.exclude = swap.scope_predicate(exclude, "exclude", type(self).__name__)
        self.layers = []
        #: Global step of the first quantized batch (None until then).
        self.started_at = None
        #: Global step of the first batch with frozen ranges (None until then).
        self.frozen_at = None
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self.layers = []
        for path, _, layer in tree.walk(self.model):
            if isinstance(layer, qat.FakeQuantSwitch) and swap.in_scope(
                layer, "/".join(path), self.include, self.exclude
            ):
                self.layers.append(layer)
        if not self.layers:
            raise ValueError(
                "QATToggle: the model has no QuantizedDense, QuantizedEinsumDense or "
                "QuantizedEmbedding layers in scope; swap them in first, e.g. keras_compress.swap_layers(model, "
                "{keras.layers.EinsumDense: QuantizedEinsumDense, keras.layers.Dense: "
                "QuantizedDense})."
            )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        step = self.global_step()
        if not self.trigger.fires(step, self._epoch):
            return
        if self.started_at is None:
            self.started_at = step
            for layer in self.layers:
                layer.enable_quantization(True)
        # Counted from the requested start, so that a resumed fit freezes at
        # the same step as an uninterrupted one (which started before the crash).
        start = self._start_step()
        if (
            self.freeze_ranges_after is not None
            and self.frozen_at is None
            and step >= start + self.freeze_ranges_after
        ):
            self.frozen_at = step
            for layer in self._with_ranges():
                layer.freeze_ranges(True)

    def _start_step(self):
        first = self.trigger.first_step((self.params or {}).get("steps"))
        return self.started_at if first is None else first

    def _with_ranges(self):
        return [layer for layer in self.layers if isinstance(layer, qat.QATLayer)]

    def stats(self):
        """`{"quantized": ..., "ranges_frozen": ...}`: fractions of targeted layers."""
        ranged = self._with_ranges()
        return {
            "quantized": sum(layer.quantization_on for layer in self.layers)
            / max(len(self.layers), 1),
            "ranges_frozen": sum(
                bool(keras.ops.convert_to_numpy(layer.ranges_frozen)) for layer in ranged
            ) / max(len(ranged), 1),
        }
