"""Property-based tests (hypothesis) of the layers' invariants."""

import keras
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from keras_compress.clustering import kmeans_1d
from keras_compress.layers import MaskedDense
from keras_compress.quantization import fake_quant_weights

floats = st.floats(-10, 10, allow_nan=False, width=32)
SETTINGS = settings(max_examples=25, deadline=None)


@st.composite
def kernels_and_masks(draw):
    rows = draw(st.integers(1, 6))
    cols = draw(st.integers(1, 6))
    kernel = draw(hnp.arrays(np.float32, (rows, cols), elements=floats))
    mask = draw(hnp.arrays(np.float32, (rows, cols), elements=st.sampled_from([0.0, 1.0])))
    units = draw(hnp.arrays(np.float32, (cols,), elements=st.sampled_from([0.0, 1.0])))
    x = draw(hnp.arrays(np.float32, (3, rows), elements=floats))
    return kernel, mask, units, x


@SETTINGS
@given(kernels_and_masks())
def test_masked_dense_equals_dense_with_zeroed_weights(case):
    kernel, mask, units, x = case
    layer = MaskedDense(kernel.shape[1], activation="relu")
    layer.build((None, kernel.shape[0]))
    layer.kernel.assign(kernel)
    layer.kernel_mask.assign(mask)
    layer.unit_mask.assign(units)
    dense = keras.layers.Dense(kernel.shape[1], activation="relu")
    dense.build((None, kernel.shape[0]))
    dense.kernel.assign(kernel * mask * units)
    dense.bias.assign(np.zeros(kernel.shape[1], np.float32))
    np.testing.assert_allclose(layer(x), dense(x), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(layer.to_plain()(x), layer(x), rtol=1e-5, atol=1e-4)


@SETTINGS
@given(hnp.arrays(np.float32, st.tuples(st.integers(1, 8), st.integers(1, 5)), elements=floats))
def test_weight_fake_quant_error_is_within_half_a_step(kernel):
    quantized = keras.ops.convert_to_numpy(fake_quant_weights(kernel, "per_channel"))
    step = np.maximum(np.abs(kernel).max(axis=0), 1e-8) / 127.0
    assert np.all(np.abs(quantized - kernel) <= step / 2 + 1e-6 * (1 + np.abs(kernel)))


@SETTINGS
@given(
    hnp.arrays(np.float64, st.integers(4, 60), elements=st.floats(-5, 5, allow_nan=False)),
    st.integers(2, 4),
    st.sampled_from(["linear", "kmeans++"]),
)
def test_kmeans_codebook_invariants(values, n_clusters, init):
    centroids, assignments = kmeans_1d(values, n_clusters, init=init)
    assert centroids.shape == (n_clusters,)
    assert np.all(np.diff(centroids) >= 0)
    assert assignments.min() >= 0 and assignments.max() < n_clusters
    # Every value sits with (one of) its nearest centroid(s).
    distances = np.abs(values[:, None] - centroids[None, :].astype(np.float64))
    chosen = distances[np.arange(values.size), assignments]
    assert np.all(chosen <= distances.min(axis=1) + 1e-5)
