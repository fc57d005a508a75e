"""Numeric helpers at the bottom of the package: they know no layers and no models.

`fake_quant` (quantize-then-dequantize with straight-through gradients), `kmeans`
(1-D k-means for weight sharing) and `packing` (bit packing of cluster indices).
Everything else in keras_compress may import these; they import only numpy and keras.

>>> from keras_compress.ops import index_bits
>>> index_bits(16)
4
"""

from keras_compress.ops.fake_quant import (
    GRANULARITIES,
    fake_quant_activations,
    fake_quant_weights,
)
from keras_compress.ops.kmeans import INITS, kmeans_1d
from keras_compress.ops.packing import index_bits, pack_indices, unpack_indices

__all__ = [
    "GRANULARITIES",
    "INITS",
    "fake_quant_activations",
    "fake_quant_weights",
    "index_bits",
    "kmeans_1d",
    "pack_indices",
    "unpack_indices",
]
