"""Bit-packing of k-means cluster indices for storage (`.keras` files)."""

import math

import numpy as np


def index_bits(n_clusters):
    """Bits needed per index for `n_clusters` clusters (at least 1).

    >>> [index_bits(n) for n in (2, 3, 4, 16, 17, 256)]
    [1, 2, 2, 4, 5, 8]
    """
    return max(1, math.ceil(math.log2(n_clusters)))


def pack_indices(indices, bits):
    """Packs integer `indices` (each `< 2**bits`, `bits <= 8`) into a flat uint8 array.

    The result has `ceil(indices.size * bits / 8)` bytes: with 4 clusters (2
    bits) a float32 matrix's indices take 1/16 of its bytes.

    >>> packed = pack_indices(np.array([[0, 1], [2, 3]]), bits=2)
    >>> packed.dtype.name, packed.size, unpack_indices(packed, 2, (2, 2)).tolist()
    ('uint8', 1, [[0, 1], [2, 3]])
    """
    if not 1 <= bits <= 8:
        raise ValueError(f"`bits` must be in [1, 8]; received {bits!r}.")
    flat = np.asarray(indices).reshape(-1)
    if flat.size and (flat.min() < 0 or flat.max() >= 2**bits):
        raise ValueError(f"indices must be in [0, {2**bits}); found {flat.min()}..{flat.max()}.")
    # Each index as its `bits` lowest bits, most significant first.
    planes = np.unpackbits(flat.astype(np.uint8)[:, None], axis=1)[:, 8 - bits:]
    return np.packbits(planes.reshape(-1))


def unpack_indices(packed, bits, shape):
    """Inverse of `pack_indices`: int32 indices of the given `shape`."""
    size = int(np.prod(shape))
    planes = np.unpackbits(np.asarray(packed, np.uint8))[: size * bits].reshape(size, bits)
    weights = (1 << np.arange(bits - 1, -1, -1)).astype(np.int32)
    return (planes.astype(np.int32) @ weights).reshape(shape)
