"""Compression layers: drop-in replacements for Keras layers."""

from keras_compress.layers.base import CompressedLayer
from keras_compress.layers.clustered import ClusteredLayer
from keras_compress.layers.kmeans_dense import KMeansDense
from keras_compress.layers.kmeans_einsum_dense import KMeansEinsumDense
from keras_compress.layers.kmeans_embedding import KMeansEmbedding, KMeansPositionEmbedding
from keras_compress.layers.masked_dense import MaskedDense
from keras_compress.layers.masked_einsum_dense import MaskedEinsumDense
from keras_compress.layers.prunable_attention import PrunableAttention
from keras_compress.layers.qat import FakeQuantSwitch, QATLayer
from keras_compress.layers.quantized_dense import QuantizedDense
from keras_compress.layers.quantized_einsum_dense import QuantizedEinsumDense
from keras_compress.layers.quantized_embedding import QuantizedEmbedding

__all__ = [
    "CompressedLayer",
    "ClusteredLayer",
    "FakeQuantSwitch",
    "KMeansDense",
    "KMeansEinsumDense",
    "KMeansEmbedding",
    "KMeansPositionEmbedding",
    "MaskedDense",
    "MaskedEinsumDense",
    "PrunableAttention",
    "QATLayer",
    "QuantizedDense",
    "QuantizedEinsumDense",
    "QuantizedEmbedding",
]
