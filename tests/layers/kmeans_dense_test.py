import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_compress.clustering import kmeans_1d
from keras_compress.layers import KMeansDense


@pytest.mark.parametrize("init", ["linear", "kmeans++"])
def test_kmeans_recovers_known_codebook(init):
    rng = np.random.default_rng(0)
    centers = np.array([-1.0, 0.0, 2.0])
    labels = rng.integers(0, 3, size=(40, 30))
    values = centers[labels] + rng.normal(scale=0.01, size=labels.shape)
    centroids, assignments = kmeans_1d(values, 3, init=init)
    np.testing.assert_allclose(centroids, centers, atol=0.01)
    np.testing.assert_array_equal(assignments, labels)
    assert assignments.shape == values.shape and assignments.dtype == np.int32


def test_kmeans_codebook_is_sorted_and_complete():
    values = np.random.default_rng(1).normal(size=1000)
    centroids, assignments = kmeans_1d(values, 16)
    assert centroids.shape == (16,) and np.all(np.diff(centroids) > 0)
    assert set(np.unique(assignments)) <= set(range(16))


@pytest.mark.parametrize("n_clusters", [1, 0, 2.5])
def test_kmeans_rejects_bad_cluster_counts(n_clusters):
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans_1d(np.arange(10.0), n_clusters)


def test_kmeans_rejects_more_clusters_than_values():
    with pytest.raises(ValueError, match="exceeds"):
        kmeans_1d(np.arange(4.0), 5)


def dense(units=8, input_dim=16, seed=0):
    keras.utils.set_random_seed(seed)
    layer = keras.layers.Dense(units, activation="relu")
    layer.build((None, input_dim))
    return layer


@pytest.mark.parametrize("n_clusters", [2, 4, 16])
def test_from_layer_kernel_has_at_most_n_clusters_values(n_clusters):
    source = dense()
    layer = KMeansDense.from_layer(source, n_clusters=n_clusters)
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    assert len(np.unique(kernel)) <= n_clusters
    x = np.random.default_rng(0).normal(size=(4, 16)).astype("float32")
    expected = np.maximum(x @ kernel + source.bias.numpy(), 0)
    np.testing.assert_allclose(layer(x), expected, atol=1e-5)
    # The clustered kernel stays close to the original one.
    error = np.abs(kernel - source.kernel.numpy()).mean()
    assert error < np.abs(source.kernel.numpy()).mean()


def test_gradients_reach_centroids_as_sums_over_assigned_weights():
    layer = KMeansDense.from_layer(dense(), n_clusters=4)
    x = np.random.default_rng(0).normal(size=(4, 16)).astype("float32")
    with tf.GradientTape() as tape:
        y = keras.ops.matmul(x, layer.kernel)
        loss = keras.ops.sum(y)
    grad = tape.gradient(loss, layer.centroids)
    grad = keras.ops.convert_to_numpy(tf.convert_to_tensor(grad))
    kernel_grad = x.T @ np.ones((4, 8), "float32")
    expected = np.bincount(
        layer.assignments.numpy().ravel(), weights=kernel_grad.ravel(), minlength=4
    )
    np.testing.assert_allclose(grad, expected, rtol=1e-5)
    assert len(layer.trainable_variables) == 2  # centroids and bias


@pytest.mark.parametrize("n_clusters", [1, 257, "4"])
def test_constructor_rejects_bad_cluster_counts(n_clusters):
    with pytest.raises(ValueError, match="n_clusters"):
        KMeansDense(4, n_clusters=n_clusters)


def test_from_layer_rejects_more_clusters_than_weights():
    with pytest.raises(ValueError, match="exceeds"):
        KMeansDense.from_layer(dense(units=2, input_dim=3), n_clusters=8)


def test_save_load_and_to_plain(tmp_path):
    source = dense()
    inputs = keras.Input((16,))
    model = keras.Model(inputs, KMeansDense.from_layer(source, n_clusters=4)(inputs))
    x = np.random.default_rng(0).normal(size=(3, 16)).astype("float32")
    model.save(tmp_path / "k.keras")
    loaded = keras.saving.load_model(tmp_path / "k.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    plain = model.layers[1].to_plain()
    assert type(plain) is keras.layers.Dense
    assert len(np.unique(plain.kernel.numpy())) <= 4
    np.testing.assert_allclose(plain(x), model.layers[1](x), atol=1e-6)
