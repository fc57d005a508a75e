import numpy as np
import pytest

from keras_compress.ops.packing import index_bits, pack_indices, unpack_indices


@pytest.mark.parametrize("n_clusters", [2, 3, 4, 5, 16, 100, 256])
def test_pack_round_trips_and_takes_bits_per_index(n_clusters):
    rng = np.random.default_rng(n_clusters)
    indices = rng.integers(0, n_clusters, size=(37, 11)).astype(np.int32)
    bits = index_bits(n_clusters)
    assert 2 ** (bits - 1) < n_clusters <= 2**bits
    packed = pack_indices(indices, bits)
    assert packed.dtype == np.uint8 and packed.size == -(-indices.size * bits // 8)
    np.testing.assert_array_equal(unpack_indices(packed, bits, indices.shape), indices)


def test_four_clusters_take_a_sixteenth_of_float32():
    indices = np.random.default_rng(0).integers(0, 4, size=(384, 1536))
    assert pack_indices(indices, index_bits(4)).nbytes * 16 == indices.size * 4


def test_out_of_range_indices_and_bits_are_refused():
    with pytest.raises(ValueError, match=r"indices must be in \[0, 4\)"):
        pack_indices(np.array([0, 4]), 2)
    with pytest.raises(ValueError, match="bits"):
        pack_indices(np.array([0, 1]), 9)
