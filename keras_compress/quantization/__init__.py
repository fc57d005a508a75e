"""Quantization-aware training helpers."""

from keras_compress.quantization.fake_quant import fake_quant_activations, fake_quant_weights

__all__ = ["fake_quant_activations", "fake_quant_weights"]
