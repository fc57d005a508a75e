"""What the k-means layers share: a weight stored as a codebook and cluster indices."""

import keras
import numpy as np
from keras import ops

from keras_compress.clustering.kmeans import INITS, kmeans_1d
from keras_compress.clustering.packing import index_bits, pack_indices, unpack_indices
from keras_compress.layers import base

MAX_CLUSTERS = 256


class ClusteredLayer(base.CompressedLayer):
    """Mixin for layers whose main weight is `centroids[assignments]` (weight sharing).

    The weight takes only `n_clusters` distinct values (Han et al. 2016):
    `centroids` (shape `(n_clusters,)`) are trainable and receive the summed
    gradient of every weight assigned to them; `assignments` (int32, the
    weight's shape) are fixed. In `.keras` files the assignments are stored
    bit-packed (`ceil(log2(n_clusters))` bits each), so a clustered matrix
    takes `bits / 32` of its float32 size plus the codebook.

    Subclasses call `_init_clusters` in `__init__`, `_build_codebook(shape)`
    in `build`, and read the weight as `self.clustered_weight`.
    """

    def _init_clusters(self, n_clusters, init):
        name = type(self).__name__
        if (
            isinstance(n_clusters, bool)
            or not isinstance(n_clusters, (int, np.integer))
            or not 2 <= n_clusters <= MAX_CLUSTERS
        ):
            raise ValueError(
                f"{name}: `n_clusters` must be an integer in [2, {MAX_CLUSTERS}]; "
                f"received {n_clusters!r}."
            )
        if init not in INITS:
            raise ValueError(f"{name}: `init` must be one of {INITS}; received {init!r}.")
        self.n_clusters = int(n_clusters)
        self.init = init

    def _build_codebook(self, shape):
        self.centroids = self.add_weight(
            name="centroids",
            shape=(self.n_clusters,),
            initializer=keras.initializers.RandomUniform(-0.05, 0.05),
        )
        self.assignments = self.add_weight(
            name="assignments",
            shape=tuple(shape),
            initializer="zeros",
            dtype="int32",
            trainable=False,
        )

    @property
    def clustered_weight(self):
        """The shared-value weight, `centroids[assignments]`."""
        return ops.take(self.centroids, self.assignments)

    def _cluster(self, values, source_name, seed):
        """Runs k-means on `values` and stores the codebook and indices."""
        values = ops.convert_to_numpy(values)
        if self.n_clusters > values.size:
            raise ValueError(
                f"{type(self).__name__}.from_layer: `n_clusters`={self.n_clusters} exceeds the "
                f"{values.size} weights of layer '{source_name}'."
            )
        centroids, assignments = kmeans_1d(values, self.n_clusters, init=self.init, seed=seed)
        self.centroids.assign(centroids)
        self.assignments.assign(assignments)

    def cluster_sizes(self):
        """Number of weights in each cluster (empty clusters count 0)."""
        indices = ops.convert_to_numpy(self.assignments).reshape(-1)
        return np.bincount(indices, minlength=self.n_clusters)

    def get_config(self):
        return {**super().get_config(), "n_clusters": self.n_clusters, "init": self.init}

    # Stored bit-packed: a `.keras` file holds `bits` per weight, not 32.
    def save_own_variables(self, store):
        if not self.built:
            return
        bits = index_bits(self.n_clusters)
        for i, variable in enumerate(self._ordered_variables()):
            if variable is self.assignments:
                store[str(i)] = pack_indices(ops.convert_to_numpy(variable), bits)
            else:
                store[str(i)] = variable

    def load_own_variables(self, store):
        if not self.built:
            return
        variables = self._ordered_variables()
        if len(store.keys()) != len(variables):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expected "
                f"{len(variables)} variables in the saved file, found {len(store.keys())}."
            )
        bits = index_bits(self.n_clusters)
        for i, variable in enumerate(variables):
            value = store[str(i)]
            if variable is self.assignments:
                value = unpack_indices(np.asarray(value), bits, tuple(variable.shape))
            variable.assign(value)

    def compression_info(self):
        return {
            "kind": "k-means",
            "params": base.weight_count(self),
            "clusters": self.n_clusters,
        }
