import numpy as np
import pytest

from keras_compress.pruning import magnitude


def test_keep_largest_reaches_the_exact_sparsity():
    scores = np.random.default_rng(0).normal(size=(37, 11))
    for sparsity in (0.0, 0.3, 0.5, 0.9):
        mask = magnitude.keep_largest(np.abs(scores), sparsity)
        assert mask.sum() == scores.size - round(sparsity * scores.size)
        assert np.abs(scores[mask == 1]).min() >= np.abs(scores[mask == 0]).max(initial=0)


def test_global_masks_share_one_threshold():
    a = np.full((4, 4), 10.0)
    b = np.full((4, 4), 0.1)
    mask_a, mask_b = magnitude.global_masks([a, b], 0.5)
    assert mask_a.all() and not mask_b.any()


def test_two_four_pattern_keeps_two_largest_of_every_four_inputs():
    kernel = np.random.default_rng(1).normal(size=(16, 6, 2))  # (input, heads, head_dim)
    mask = magnitude.n_m_mask(kernel, 2, 4)
    groups = mask.reshape(4, 4, -1)
    assert np.all(groups.sum(axis=1) == 2)
    magnitudes = np.abs(kernel).reshape(4, 4, -1)
    kept_min = np.where(groups == 1, magnitudes, np.inf).min(axis=1)
    pruned_max = np.where(groups == 0, magnitudes, -np.inf).max(axis=1)
    assert np.all(kept_min >= pruned_max)


def test_block_mask_prunes_whole_tiles():
    kernel = np.random.default_rng(2).normal(size=(8, 12))
    mask = magnitude.block_mask(kernel, 0.5, (4, 4))
    tiles = mask.reshape(2, 4, 3, 4)
    per_tile = tiles.sum(axis=(1, 3))
    assert set(np.unique(per_tile)) <= {0.0, 16.0}
    assert mask.mean() == pytest.approx(0.5, abs=1 / 6)


def test_patterns_parse_and_bad_ones_are_named():
    assert magnitude.parse_pattern("2:4") == ("n:m", 2, 4)
    assert magnitude.parse_pattern((1, 4)) == ("block", 1, 4)
    for bad in ("4:2", "2-4", (0, 4), (1, 2, 3)):
        with pytest.raises(ValueError, match="pattern"):
            magnitude.parse_pattern(bad)
    with pytest.raises(ValueError, match="divisible by 4"):
        magnitude.n_m_mask(np.ones((6, 2)), 2, 4)


def test_patterns_follow_the_input_axes_of_an_einsum_kernel():
    import keras

    layer = keras.layers.EinsumDense("abcd,cde->abe", output_shape=(None, 6))
    layer.build((None, 3, 2, 4))  # output projection: kernel (heads=2, head_dim=4, out=6)
    assert magnitude.input_axes(layer) == (0, 1)
    kernel = np.random.default_rng(3).normal(size=(2, 4, 6))
    mask = magnitude.n_m_mask(kernel, 2, 4, input_axes=(0, 1))
    assert mask.shape == kernel.shape
    assert np.all(mask.reshape(2, 4, 6).sum(axis=1) == 2)
