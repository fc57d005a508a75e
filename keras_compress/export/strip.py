"""`strip`: a plain Keras model with the compression baked into its weights."""

import copy

from keras_compress.layers.base import CompressedLayer
from keras_compress.surgery import persist
from keras_compress.surgery.swap import swap_layers


def strip(model):
    """Returns a copy of `model` with only standard Keras layers.

    Weight masks and neuron masks are multiplied into the kernels, pruned
    heads' output projections are zeroed, k-means kernels are materialised
    and fake-quantization is removed (a `QuantizedDense` whose quantization
    is on keeps its int8-grid kernel). The result has the same outputs as the
    compressed model (for `QuantizedDense`, up to activation fake-quant),
    and saves and loads without `keras_compress`. `model` is not modified.

    Example:

    >>> import keras, keras_compress
    >>> from keras_compress.layers import MaskedDense
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> _ = keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense},
    ...                                include_classifier=True)
    >>> type(keras_compress.strip(model).layers[0]).__name__
    'Dense'
    """
    stripped = copy.deepcopy(model)
    swap_layers(
        stripped,
        _to_plain_policy,
        include_embeddings=True,
        include_classifier=True,
    )
    persist.unmark(stripped)
    return stripped


def _to_plain_policy(layer, path):
    if isinstance(layer, CompressedLayer):
        return _to_plain
    return None


def _to_plain(layer):
    return layer.to_plain()
