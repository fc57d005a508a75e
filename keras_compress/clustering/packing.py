"""Old home of the index bit packing; it lives in `keras_compress.ops.packing` now."""

from keras_compress.ops.packing import index_bits, pack_indices, unpack_indices  # noqa: F401

__all__ = ["index_bits", "pack_indices", "unpack_indices"]
