"""keras-compress: make Keras 3 transformer models smaller and faster while they train.

>>> import keras, keras_compress
>>> from keras_compress.layers import MaskedDense
>>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
>>> model = keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense},
...                                    include_classifier=True)
>>> type(model.layers[0]).__name__
'MaskedDense'
"""

import importlib
import pathlib
import sys

__version__ = "0.1.0.dev0"

SUBPACKAGES = ("callbacks", "clustering", "distillation", "export", "layers", "pruning",
               "quantization")
FUNCTIONS = {"strip": "keras_compress.surgery.strip", "summary": "keras_compress.summary",
             "swap_layers": "keras_compress.surgery.swap",
             "trim_vocabulary": "keras_compress.surgery.vocabulary"}

__all__ = ["__version__", *SUBPACKAGES, *FUNCTIONS]


def _load():
    """Imports the subpackages (registering the compression layers with Keras, for
    `keras.saving.load_model`) and the top-level functions."""
    found = {name: importlib.import_module(f"keras_compress.{name}") for name in SUBPACKAGES}
    for name, module in FUNCTIONS.items():
        found[name] = getattr(importlib.import_module(module), name)
    globals().update(found)


def __getattr__(name):
    # Reached only when the package was imported for the `keras-compress` command (below).
    if name in SUBPACKAGES or name in FUNCTIONS:
        _load()
        return globals()[name]
    raise AttributeError(f"module 'keras_compress' has no attribute {name!r}")


# `import keras_compress` loads everything (and so TensorFlow), except under the
# `keras-compress` command: its `--help` must answer without TensorFlow, and each command
# imports what it needs (docs/cli.md).
if pathlib.Path(getattr(sys, "argv", None) and sys.argv[0] or "").stem != "keras-compress":
    _load()
