"""Compression layers: drop-in replacements for Keras layers."""

from keras_compress.layers.base import CompressedLayer
from keras_compress.layers.kmeans_dense import KMeansDense
from keras_compress.layers.masked_dense import MaskedDense
from keras_compress.layers.masked_einsum_dense import MaskedEinsumDense
from keras_compress.layers.prunable_attention import PrunableAttention
from keras_compress.layers.quantized_dense import QuantizedDense

__all__ = [
    "CompressedLayer",
    "KMeansDense",
    "MaskedDense",
    "MaskedEinsumDense",
    "PrunableAttention",
    "QuantizedDense",
]
