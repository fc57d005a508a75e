"""What `QuantizedDense` and `QuantizedEinsumDense` share: int8 fake quantization state."""

import keras
from keras import ops

from keras_compress import checks
from keras_compress.layers import base
from keras_compress.ops.fake_quant import (
    GRANULARITIES,
    fake_quant_activations,
    fake_quant_weights,
)

#: Weight granularity by default. Only per-tensor weight ranges are folded by
#: the TFLite converter into int8 FULLY_CONNECTED kernels; per-channel
#: fake-quant of a Dense or EinsumDense kernel fails to convert (measured with
#: TensorFlow 2.21, see docs/quantization.md).
DEFAULT_GRANULARITY = "per_tensor"


class FakeQuantSwitch(base.CompressedLayer):
    """Mixin for layers with a fake-quantization switch that `QATToggle` flips.

    `quantization_enabled` is a bool variable (not a Python flag), so a
    compiled training step sees a flip at its next call without retracing.
    """

    def _build_switch(self):
        self.quantization_enabled = self.add_weight(
            name="quantization_enabled", shape=(), initializer="zeros", dtype="bool",
            trainable=False, autocast=False,
        )

    def enable_quantization(self, enabled=True):
        """Switches fake quantization on or off (takes effect at the next step)."""
        self.quantization_enabled.assign(bool(enabled))

    @property
    def quantization_on(self):
        """Whether fake quantization is switched on, as a Python bool."""
        return bool(ops.convert_to_numpy(self.quantization_enabled))


class QATLayer(FakeQuantSwitch):
    """Mixin for layers trained with int8 fake quantization (quantization-aware training).

    - Weights: symmetric int8 (-127..127), one range per tensor or per output
      channel.
    - Inputs and outputs: asymmetric int8 ranges, tracked during training as a
      moving average of each batch's min and max (the first batch sets them).
      Ranges are tracked whether or not quantization is on, so they are ready
      the moment it is switched on, and stop moving once frozen. A layer with
      an activation (GELU, tanh, ...) also quantizes its output before the
      activation, so that the converter can emit an int8 kernel followed by
      an int8 activation.
    - Gradients: straight-through estimator.

    Two switches are variables, so a compiled `fit` sees them at the next step
    without retracing: `quantization_enabled` (`enable_quantization`) and
    `ranges_frozen` (`freeze_ranges`).

    Subclasses set `plain_type` (the Keras layer they stand in for) and
    compute their output in `_project(x, kernel)`.
    """

    plain_type = None

    def _init_qat(self, weight_granularity, range_momentum):
        name = type(self).__name__
        if weight_granularity not in GRANULARITIES:
            raise ValueError(
                f"{name}: `weight_granularity` must be one of {GRANULARITIES}; "
                f"received {weight_granularity!r}."
            )
        if not checks.is_number(range_momentum) or not 0.0 <= range_momentum < 1.0:
            raise ValueError(
                f"{name}: `range_momentum` must be a number in [0, 1); "
                f"received {range_momentum!r}."
            )
        self.weight_granularity = weight_granularity
        self.range_momentum = float(range_momentum)

    def _build_qat_state(self):
        def scalar(name, dtype="float32"):
            # Under tf.distribute each replica updates ranges from its own batch:
            # averaging keeps the replicas' copies identical.
            return self.add_weight(
                name=name, shape=(), initializer="zeros", dtype=dtype, trainable=False,
                autocast=False,
                aggregation="mean" if dtype == "float32" else "only_first_replica",
            )

        self._build_switch()
        self.range_updates = scalar("range_updates", "int32")
        self.input_min = scalar("input_min")
        self.input_max = scalar("input_max")
        self.output_min = scalar("output_min")
        self.output_max = scalar("output_max")
        self.ranges_frozen = scalar("ranges_frozen", "bool")
        # Range of the pre-activation output (matmul + bias), used only when the
        # layer has an activation: TFLite's int8 FULLY_CONNECTED cannot fuse
        # GELU, so it needs its own quantized output before the activation.
        self.preactivation_min = scalar("preactivation_min")
        self.preactivation_max = scalar("preactivation_max")

    def freeze_ranges(self, frozen=True):
        """Stops (or resumes) the moving-average tracking of activation ranges."""
        self.ranges_frozen.assign(bool(frozen))

    def ranges(self):
        """The learned ranges as Python floats, for export.

        Returns a dict with `"input"` and `"output"` `(min, max)` pairs (as
        used: widened to contain 0), `"preactivation"` (only for a layer with
        an activation: the range of `matmul + bias`), `"weight"` (the symmetric bound, one per
        tensor or a list per channel), `"weight_granularity"`, `"enabled"` and
        `"frozen"`.
        """

        def pair(lo, hi):
            lo = min(float(ops.convert_to_numpy(lo)), 0.0)
            return lo, max(float(ops.convert_to_numpy(hi)), lo + 1e-6)

        kernel = ops.convert_to_numpy(self._kernel)
        if self.weight_granularity == "per_tensor":
            weight = float(abs(kernel).max())
        else:
            axes = tuple(a for a in range(kernel.ndim) if a not in self._channel_axes())
            weight = abs(kernel).max(axis=axes).reshape(-1).tolist()
        ranges = {
            "input": pair(self.input_min, self.input_max),
            "output": pair(self.output_min, self.output_max),
            "weight": weight,
            "weight_granularity": self.weight_granularity,
            "enabled": self.quantization_on,
            "frozen": bool(ops.convert_to_numpy(self.ranges_frozen)),
        }
        if self._has_activation:
            ranges["preactivation"] = pair(self.preactivation_min, self.preactivation_max)
        return ranges

    @property
    def _has_activation(self):
        return self.activation is not None and self.activation is not keras.activations.linear

    def _channel_axes(self):
        """Kernel axes that index output channels."""
        return (len(self._kernel.shape) - 1,)

    def _track(self, x, min_var, max_var):
        first = ops.equal(self.range_updates, 0)
        frozen = self.ranges_frozen
        m = self.range_momentum
        batch_min = ops.cast(ops.min(x), "float32")
        batch_max = ops.cast(ops.max(x), "float32")
        new_min = ops.where(first, batch_min, m * min_var + (1 - m) * batch_min)
        new_max = ops.where(first, batch_max, m * max_var + (1 - m) * batch_max)
        min_var.assign(ops.where(frozen, min_var, new_min))
        max_var.assign(ops.where(frozen, max_var, new_max))

    def _maybe_quantize(self, x, min_var, max_var):
        quantized = fake_quant_activations(ops.cast(x, "float32"), min_var, max_var)
        return ops.where(self.quantization_enabled, ops.cast(quantized, x.dtype), x)

    def _fake_quant_kernel(self):
        return fake_quant_weights(
            ops.cast(self._kernel, "float32"), self.weight_granularity,
            channel_axes=self._channel_axes(),
        )

    @property
    def quantized_kernel(self):
        """The kernel as the quantized model sees it (float values on the int8 grid)."""
        return self._fake_quant_kernel()

    def _project(self, x, kernel):
        raise NotImplementedError

    def call(self, inputs, training=None):
        if training:
            self._track(inputs, self.input_min, self.input_max)
        x = self._maybe_quantize(inputs, self.input_min, self.input_max)
        kernel = ops.where(
            self.quantization_enabled,
            ops.cast(self._fake_quant_kernel(), self._kernel.dtype),
            self._kernel,
        )
        x = self._project(x, kernel)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        if self._has_activation:
            if training:
                self._track(x, self.preactivation_min, self.preactivation_max)
            x = self.activation(self._maybe_quantize(x, self.preactivation_min,
                                                     self.preactivation_max))
        if training:
            self._track(x, self.output_min, self.output_max)
            self.range_updates.assign(
                ops.where(self.ranges_frozen, self.range_updates, self.range_updates + 1)
            )
        return self._maybe_quantize(x, self.output_min, self.output_max)

    def quantize(self, mode=None, **kwargs):
        raise NotImplementedError(
            f"Layer '{self.name}': {type(self).__name__} cannot be quantized by Keras; "
            "call keras_compress.strip(model) first."
        )

    def get_config(self):
        return {
            **super().get_config(),
            "weight_granularity": self.weight_granularity,
            "range_momentum": self.range_momentum,
        }

    def _ordered_variables(self):
        variables = [self._kernel] + ([self.bias] if self.bias is not None else [])
        return variables + self.compression_state()

    @classmethod
    def from_layer(cls, layer, **kwargs):
        return base.from_kernel_layer(cls, layer, cls.plain_type, **kwargs)

    def to_plain(self):
        """A plain Keras layer; its kernel is the quantized one if quantization is on.

        Activation fake-quantization has no plain-Keras equivalent: the ranges
        stay readable on this layer (`ranges()`) for export.
        """
        plain = self.plain_type.from_config(base.plain_config(self, self.plain_type))
        base.build_like(plain, self)
        kernel = self.quantized_kernel if self.quantization_on else self._kernel
        plain.kernel.assign(ops.convert_to_numpy(kernel))
        if self.bias is not None:
            plain.bias.assign(self.bias)
        return plain

    def compression_state(self):
        return [
            self.quantization_enabled,
            self.range_updates,
            self.input_min,
            self.input_max,
            self.output_min,
            self.output_max,
            self.ranges_frozen,
            self.preactivation_min,
            self.preactivation_max,
        ]

    def compression_info(self):
        return {
            "kind": "qat",
            "params": base.weight_count(self),
            "bits": 8 if self.quantization_on else 32,
        }


def check_no_lora(cls, kwargs):
    if kwargs.get("lora_rank"):
        raise ValueError(f"{cls.__name__} does not support `lora_rank`.")
