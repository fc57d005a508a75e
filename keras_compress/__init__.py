"""keras-compress: make Keras 3 transformer models smaller and faster while they train.

>>> import keras, keras_compress
>>> from keras_compress.layers import MaskedDense
>>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
>>> model = keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense},
...                                    include_classifier=True)
>>> type(model.layers[0]).__name__
'MaskedDense'
"""

from keras_compress import (
    callbacks,
    clustering,
    distillation,
    export,
    layers,
    pruning,
    quantization,
)
from keras_compress.surgery.strip import strip
from keras_compress.summary import summary
from keras_compress.surgery.swap import swap_layers

__version__ = "0.1.0.dev0"

__all__ = [
    "__version__",
    "callbacks",
    "clustering",
    "distillation",
    "export",
    "layers",
    "pruning",
    "quantization",
    "strip",
    "summary",
    "swap_layers",
]
