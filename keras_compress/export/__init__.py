"""Turning a compressed model into a deployable one."""

from keras_compress.export.strip import strip

__all__ = ["strip"]
