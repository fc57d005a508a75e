"""Reading the ranges a QAT model learned, for export."""

from keras_compress.layers import qat  # module: keras_compress.layers imports this package
from keras_compress.surgery import tree


def qat_ranges(model):
    """The learned int8 ranges of every QAT layer in `model`, by layer path.

    For each `QuantizedDense` / `QuantizedEinsumDense`: `{"input": (min, max),
    "output": (min, max), "weight": bound, "weight_granularity": ...,
    "enabled": bool, "frozen": bool}` (see `QATLayer.ranges`). An exporter
    converts these into the int8 scales and zero points of the TFLite
    tensors; the TFLite converter reads them directly from the fake-quant ops
    of a model whose QAT layers are left in place (per-tensor weights).

    Example:

    >>> import keras, numpy as np, keras_compress
    >>> from keras_compress.layers import QuantizedDense
    >>> from keras_compress.quantization import qat_ranges
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="hidden"),
    ...                           keras.layers.Dense(1)])
    >>> _ = keras_compress.swap_layers(model, {keras.layers.Dense: QuantizedDense})
    >>> _ = model(np.array([[-1.0, 0.0, 1.0, 2.0]], "float32"), training=True)
    >>> qat_ranges(model)["hidden"]["input"]
    (-1.0, 2.0)
    """
    return {
        "/".join(path): layer.ranges()
        for path, _, layer in tree.walk(model)
        if isinstance(layer, qat.QATLayer)
    }
