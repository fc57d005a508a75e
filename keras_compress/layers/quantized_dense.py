"""`QuantizedDense`: a Dense layer trained with int8 fake quantization (QAT)."""

import keras
from keras import ops

from keras_compress.layers import base
from keras_compress.quantization.fake_quant import (
    GRANULARITIES,
    fake_quant_activations,
    fake_quant_weights,
)


@keras.saving.register_keras_serializable(package="keras_compress")
class QuantizedDense(base.CompressedLayer, keras.layers.Dense):
    """`Dense` with int8 fake quantization of weights, inputs and outputs.

    - Weights: symmetric int8 (-127..127), per output channel by default
      (`weight_granularity="per_tensor"` for one range per matrix).
    - Inputs and outputs: asymmetric int8 ranges, tracked during training as a
      moving average of each batch's min and max (the first batch sets them).
      Ranges are tracked whether or not quantization is on, so they are ready
      the moment it is switched on.
    - Gradients: straight-through estimator.

    Quantization starts switched off (outputs equal a plain `Dense`). Switch it
    with `layer.enable_quantization(True/False)`: the switch is a variable, so
    a compiled `fit` sees it at the next step without retracing.

    Example:

    >>> import numpy as np
    >>> from keras_compress.layers import QuantizedDense
    >>> layer = QuantizedDense(4)
    >>> layer.build((None, 8))
    >>> _ = layer(np.random.rand(16, 8).astype("float32"), training=True)
    >>> layer.enable_quantization(True)
    >>> bool(layer.quantization_enabled.numpy())
    True
    """

    replaces = (keras.layers.Dense,)

    def __init__(self, units, weight_granularity="per_channel", range_momentum=0.99, **kwargs):
        if kwargs.get("lora_rank"):
            raise ValueError("QuantizedDense does not support `lora_rank`.")
        if weight_granularity not in GRANULARITIES:
            raise ValueError(
                f"QuantizedDense: `weight_granularity` must be one of {GRANULARITIES}; "
                f"received {weight_granularity!r}."
            )
        if not 0.0 <= range_momentum < 1.0:
            raise ValueError(
                f"QuantizedDense: `range_momentum` must be in [0, 1); received {range_momentum!r}."
            )
        super().__init__(units, **kwargs)
        self.weight_granularity = weight_granularity
        self.range_momentum = range_momentum

    def build(self, input_shape):
        super().build(input_shape)

        def scalar(name, dtype="float32"):
            return self.add_weight(
                name=name, shape=(), initializer="zeros", dtype=dtype, trainable=False,
                autocast=False,
            )

        self.quantization_enabled = scalar("quantization_enabled", "bool")
        self.range_updates = scalar("range_updates", "int32")
        self.input_min = scalar("input_min")
        self.input_max = scalar("input_max")
        self.output_min = scalar("output_min")
        self.output_max = scalar("output_max")

    def enable_quantization(self, enabled=True):
        """Switches fake quantization on or off (takes effect at the next step)."""
        self.quantization_enabled.assign(bool(enabled))

    def _track(self, x, min_var, max_var):
        first = ops.equal(self.range_updates, 0)
        m = self.range_momentum
        batch_min = ops.cast(ops.min(x), "float32")
        batch_max = ops.cast(ops.max(x), "float32")
        min_var.assign(ops.where(first, batch_min, m * min_var + (1 - m) * batch_min))
        max_var.assign(ops.where(first, batch_max, m * max_var + (1 - m) * batch_max))

    def _maybe_quantize(self, x, min_var, max_var):
        quantized = fake_quant_activations(ops.cast(x, "float32"), min_var, max_var)
        return ops.where(self.quantization_enabled, ops.cast(quantized, x.dtype), x)

    def call(self, inputs, training=None):
        if training:
            self._track(inputs, self.input_min, self.input_max)
        x = self._maybe_quantize(inputs, self.input_min, self.input_max)
        kernel = ops.where(
            self.quantization_enabled,
            ops.cast(fake_quant_weights(ops.cast(self._kernel, "float32"), self.weight_granularity), self._kernel.dtype),
            self._kernel,
        )
        x = ops.matmul(x, kernel)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        if training:
            self._track(x, self.output_min, self.output_max)
            self.range_updates.assign(self.range_updates + 1)
        return self._maybe_quantize(x, self.output_min, self.output_max)

    def quantize(self, mode=None, **kwargs):
        raise NotImplementedError(
            f"Layer '{self.name}': QuantizedDense cannot be quantized by Keras; "
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

    @property
    def quantized_kernel(self):
        """The kernel as the quantized model sees it (float values on the int8 grid)."""
        return fake_quant_weights(ops.cast(self._kernel, "float32"), self.weight_granularity)

    @classmethod
    def from_layer(cls, layer, **kwargs):
        base.check_source_layer(layer, cls.replaces, cls)
        new = cls.from_config({**base.plain_config(layer, keras.layers.Dense), **kwargs})
        base.build_like(new, layer)
        new._kernel.assign(layer.kernel)
        if new.bias is not None:
            new.bias.assign(layer.bias)
        return new

    def to_plain(self):
        """A plain `Dense`; its kernel is the quantized one if quantization is on.

        Activation fake-quantization has no plain-Keras equivalent: the ranges
        stay readable on this layer (`input_min`, ..., `output_max`) for export.
        """
        plain = keras.layers.Dense.from_config(base.plain_config(self, keras.layers.Dense))
        base.build_like(plain, self)
        kernel = self.quantized_kernel if bool(self.quantization_enabled.numpy()) else self._kernel
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
        ]

    def compression_info(self):
        return {
            "kind": "qat",
            "params": base.weight_count(self),
            "bits": 8 if bool(self.quantization_enabled.numpy()) else 32,
        }
