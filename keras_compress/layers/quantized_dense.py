"""`QuantizedDense`: a Dense layer trained with int8 fake quantization (QAT)."""

import keras
from keras import ops

from keras_compress.layers import qat


@keras.saving.register_keras_serializable(package="keras_compress")
class QuantizedDense(qat.QATLayer, keras.layers.Dense):
    """`Dense` with int8 fake quantization of weights, inputs and outputs.

    - Weights: symmetric int8 (-127..127), one range per matrix by default
      (`weight_granularity="per_tensor"`: the TFLite converter turns this
      into a real int8 `FULLY_CONNECTED` kernel) or one per output channel
      (`"per_channel"`: finer, but does not convert to int8 TFLite).
    - Inputs and outputs: asymmetric int8 ranges, tracked during training as a
      moving average of each batch's min and max (the first batch sets them).
      Ranges are tracked whether or not quantization is on, so they are ready
      the moment it is switched on; `freeze_ranges()` stops them moving.
    - Gradients: straight-through estimator.

    Quantization starts switched off (outputs equal a plain `Dense`). Switch it
    with `layer.enable_quantization(True/False)` or, during `fit`, with
    `keras_compress.callbacks.QATToggle`: the switch is a variable, so a
    compiled `fit` sees it at the next step without retracing.

    Args:
        units: output size.
        weight_granularity: `"per_tensor"` (default) or `"per_channel"`.
        range_momentum: moving-average momentum of the activation ranges, in
            `[0, 1)`.
        **kwargs: as for `keras.layers.Dense` (no `lora_rank`).

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
    plain_type = keras.layers.Dense

    def __init__(self, units, weight_granularity=qat.DEFAULT_GRANULARITY, range_momentum=0.99,
                 **kwargs):
        qat.check_no_lora(type(self), kwargs)
        self._init_qat(weight_granularity, range_momentum)
        super().__init__(units, **kwargs)

    def build(self, input_shape):
        super().build(input_shape)
        self._build_qat_state()

    def _project(self, x, kernel):
        return ops.matmul(x, kernel)
