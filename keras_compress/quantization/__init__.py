"""Quantization-aware training: fake-quant helpers, the QAT switch callback, learned ranges."""

from keras_compress.ops.fake_quant import fake_quant_activations, fake_quant_weights
from keras_compress.quantization.callbacks import QATToggle
from keras_compress.quantization.ranges import qat_ranges

__all__ = ["QATToggle", "fake_quant_activations", "fake_quant_weights", "qat_ranges"]
