"""`QuantizedEinsumDense`: the `EinsumDense` twin of `QuantizedDense`."""

import keras
from keras import ops

from keras_compress.layers import qat


@keras.saving.register_keras_serializable(package="keras_compress")
class QuantizedEinsumDense(qat.QATLayer, keras.layers.EinsumDense):
    """`EinsumDense` with int8 fake quantization of weights, inputs and outputs.

    keras-hub's BERT computes its attention projections (query, key, value,
    output) with `EinsumDense`; this layer brings them under
    quantization-aware training like `QuantizedDense` does for the
    feed-forward layers. Weights are quantized per tensor by default (what the
    TFLite converter folds into int8 `FULLY_CONNECTED`); with
    `weight_granularity="per_channel"` every output channel (every kernel
    index that appears in the output, e.g. each `(head, head_dim)` pair of a
    query projection) gets its own range.

    Args:
        equation, output_shape: as for `keras.layers.EinsumDense`.
        weight_granularity: `"per_tensor"` (default) or `"per_channel"`.
        range_momentum: moving-average momentum of the activation ranges.
        **kwargs: as for `keras.layers.EinsumDense` (no `lora_rank`).

    Example:

    >>> import numpy as np
    >>> from keras_compress.layers import QuantizedEinsumDense
    >>> layer = QuantizedEinsumDense("abc,cde->abde", output_shape=(None, 2, 4),
    ...                              bias_axes="de")
    >>> layer.build((None, 5, 8))
    >>> x = np.random.rand(3, 5, 8).astype("float32")
    >>> _ = layer(x, training=True)
    >>> layer.enable_quantization(True)
    >>> layer(x).shape
    TensorShape([3, 5, 2, 4])
    """

    replaces = (keras.layers.EinsumDense,)
    plain_type = keras.layers.EinsumDense

    def __init__(self, equation, output_shape, weight_granularity=qat.DEFAULT_GRANULARITY,
                 range_momentum=0.99, **kwargs):
        qat.check_no_lora(type(self), kwargs)
        self._init_qat(weight_granularity, range_momentum)
        super().__init__(equation, output_shape, **kwargs)

    def build(self, input_shape):
        super().build(input_shape)
        self._build_qat_state()

    def _channel_axes(self):
        inputs_and_kernel, output = self.equation.split("->")
        kernel_spec = inputs_and_kernel.split(",")[1]
        return tuple(i for i, letter in enumerate(kernel_spec) if letter in output)

    def _project(self, x, kernel):
        return ops.einsum(self.equation, x, kernel)
