"""Model surgery: swapping layers in built models."""

from keras_compress.surgery.swap import swap_layers

__all__ = ["swap_layers"]
