"""The k-means twins: `KMeansEinsumDense`, `KMeansEmbedding`, `KMeansPositionEmbedding`."""

import zipfile

import h5py
import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from keras_compress.layers import (
    KMeansDense,
    KMeansEinsumDense,
    KMeansEmbedding,
    KMeansPositionEmbedding,
)


def einsum(equation="abc,cde->abde", output_shape=(None, 2, 4), bias_axes="de", seed=0):
    keras.utils.set_random_seed(seed)
    layer = keras.layers.EinsumDense(equation, output_shape, bias_axes=bias_axes)
    layer.build((None, 5, 8))
    return layer


def test_einsum_kernel_with_known_codebook_is_recovered():
    source = einsum()
    centers = np.array([-0.5, 0.1, 0.7], "float32")
    labels = np.random.default_rng(0).integers(0, 3, size=source.kernel.shape)
    source.kernel.assign(centers[labels])
    layer = KMeansEinsumDense.from_layer(source, n_clusters=3, init="linear")
    np.testing.assert_allclose(layer.centroids.numpy(), centers, atol=1e-6)
    np.testing.assert_array_equal(layer.assignments.numpy(), labels)


@pytest.mark.parametrize("n_clusters", [2, 4, 16])
def test_einsum_outputs_use_the_clustered_kernel(n_clusters):
    source = einsum()
    layer = KMeansEinsumDense.from_layer(source, n_clusters=n_clusters)
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    assert kernel.shape == (8, 2, 4) and len(np.unique(kernel)) <= n_clusters
    x = np.random.default_rng(1).normal(size=(3, 5, 8)).astype("float32")
    expected = np.einsum("abc,cde->abde", x, kernel) + source.bias.numpy()
    np.testing.assert_allclose(layer(x), expected, atol=1e-5)
    assert layer.compute_output_shape((3, 5, 8)) == source.compute_output_shape((3, 5, 8))


def test_einsum_centroid_gradient_sums_over_assigned_weights():
    x = np.random.default_rng(2).normal(size=(2, 5, 2, 4)).astype("float32")
    layer = KMeansEinsumDense.from_layer(
        _built(keras.layers.EinsumDense("abcd,cde->abe", (None, 8), bias_axes="e"), (None, 5, 2, 4)),
        n_clusters=4)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x))
    grad = tape.gradient(loss, layer.centroids).numpy()
    kernel_grad = np.einsum("abcd,abe->cde", x, np.ones((2, 5, 8), "float32"))
    expected = np.bincount(layer.assignments.numpy().ravel(), kernel_grad.ravel(), minlength=4)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-5)


def _built(layer, shape):
    layer.build(shape)
    return layer


def test_embedding_lookup_reverse_and_mask():
    keras.utils.set_random_seed(0)
    table = keras_hub.layers.ReversibleEmbedding(40, 6, mask_zero=True)
    table.build((None,))
    layer = KMeansEmbedding.from_layer(table, n_clusters=8)
    dense = keras.ops.convert_to_numpy(layer.embeddings)
    assert len(np.unique(dense)) <= 8
    ids = np.array([[0, 3, 39]])
    np.testing.assert_allclose(layer(ids), dense[ids])
    hidden = np.random.default_rng(0).normal(size=(1, 6)).astype("float32")
    np.testing.assert_allclose(layer(hidden, reverse=True), hidden @ dense.T, atol=1e-5)
    np.testing.assert_array_equal(layer.compute_mask(ids), [[False, True, True]])
    plain = layer.to_plain()
    assert type(plain) is keras_hub.layers.ReversibleEmbedding and plain.mask_zero
    np.testing.assert_array_equal(plain.embeddings.numpy(), dense)


def test_untied_reversible_embedding_is_refused():
    table = keras_hub.layers.ReversibleEmbedding(40, 6, tie_weights=False)
    table.build((None,))
    with pytest.raises(ValueError, match="tie_weights=False"):
        KMeansEmbedding.from_layer(table, n_clusters=4)


def test_position_embedding_slices_and_broadcasts():
    keras.utils.set_random_seed(0)
    table = keras_hub.layers.PositionEmbedding(sequence_length=12)
    table.build((None, 12, 6))
    layer = KMeansPositionEmbedding.from_layer(table, n_clusters=4)
    dense = keras.ops.convert_to_numpy(layer.embeddings)
    x = np.zeros((2, 5, 6), "float32")
    np.testing.assert_allclose(layer(x), np.broadcast_to(dense[:5], (2, 5, 6)))
    np.testing.assert_allclose(layer(x, start_index=3), np.broadcast_to(dense[3:8], (2, 5, 6)))
    plain = layer.to_plain()
    assert type(plain) is keras_hub.layers.PositionEmbedding
    np.testing.assert_allclose(plain(x), layer(x))
    assert len(np.unique(plain.position_embeddings.numpy())) <= 4


def test_saved_assignments_are_bit_packed(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((64,))
    dense = keras.layers.Dense(128)
    dense.build((None, 64))
    layer = KMeansDense.from_layer(dense, n_clusters=4)
    model = keras.Model(inputs, layer(inputs))
    model.save(tmp_path / "k.keras")
    with zipfile.ZipFile(tmp_path / "k.keras") as archive:
        archive.extract("model.weights.h5", tmp_path)
    datasets = []
    with h5py.File(tmp_path / "model.weights.h5") as weights:
        weights.visititems(lambda name, obj: datasets.append(obj[()]) if isinstance(
            obj, h5py.Dataset) else None)
    packed = [d for d in datasets if d.dtype == np.uint8]
    assert len(packed) == 1 and packed[0].nbytes == 64 * 128 * 2 // 8
    loaded = keras.saving.load_model(tmp_path / "k.keras")
    np.testing.assert_array_equal(loaded.layers[1].assignments.numpy(), layer.assignments.numpy())


def test_bad_cluster_counts_are_named():
    with pytest.raises(ValueError, match="KMeansEinsumDense: `n_clusters`"):
        KMeansEinsumDense("ab,bc->ac", 3, n_clusters=1)
    with pytest.raises(ValueError, match="exceeds the 6 weights"):
        KMeansEinsumDense.from_layer(_built(keras.layers.EinsumDense("ab,bc->ac", 3), (None, 2)),
                                     n_clusters=8)
    with pytest.raises(TypeError, match="expected one of: Embedding"):
        KMeansEmbedding.from_layer(_built(keras.layers.Dense(3), (None, 2)), n_clusters=2)
