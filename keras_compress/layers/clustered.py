"""What the k-means layers share: a weight stored as a codebook and cluster indices."""

import keras
import numpy as np
from keras import ops

from keras_compress.layers import base
from keras_compress.ops.kmeans import INITS, kmeans_1d
from keras_compress.ops.packing import index_bits, pack_indices, unpack_indices

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
    in `build`, and read the weight as `self.clustered_weight`. Kernel layers
    (`KMeansDense`, `KMeansEinsumDense`) also set `plain_type` and name their
    own constructor arguments (`_own_args`); `from_layer` and `to_plain` then
    come from `ClusteredKernel`.
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
    def _stored_value(self, variable):
        if variable is self.assignments:
            return pack_indices(ops.convert_to_numpy(variable), index_bits(self.n_clusters))
        return variable

    def _loaded_value(self, variable, value):
        if variable is self.assignments:
            return unpack_indices(np.asarray(value), index_bits(self.n_clusters),
                                  tuple(variable.shape))
        return value

    def compression_info(self):
        return {
            "kind": "k-means",
            "params": base.weight_count(self),
            "clusters": self.n_clusters,
        }


class ClusteredKernel(ClusteredLayer):
    """Mixin for k-means twins of kernel layers (`Dense`, `EinsumDense`) with an optional bias.

    Subclasses set `plain_type` and implement `_own_args(config)`: the
    constructor arguments, other than the clustering ones, taken from a
    `plain_type` config.
    """

    plain_type = None

    @classmethod
    def _own_args(cls, config):
        raise NotImplementedError

    def _ordered_variables(self):
        variables = [self.centroids, self.assignments]
        return variables + ([self.bias] if self.bias is not None else [])

    @classmethod
    def from_layer(cls, layer, n_clusters=16, init="kmeans++", seed=0):
        """Clusters the kernel of a built `plain_type` layer into `n_clusters` values."""
        base.check_source_layer(layer, cls.replaces, cls)
        config = base.plain_config(layer, cls.plain_type)
        new = cls(
            n_clusters=n_clusters,
            init=init,
            name=config["name"],
            dtype=config["dtype"],
            trainable=config["trainable"],
            **cls._own_args(config),
        )
        base.build_like(new, layer)
        new._cluster(layer.kernel, layer.name, seed)
        if new.bias is not None:
            new.bias.assign(layer.bias)
        return new

    def to_plain(self):
        """The `plain_type` layer with the clustered kernel materialised."""
        plain = self.plain_type(
            name=self.name,
            dtype=self.dtype_policy,
            trainable=self.trainable,
            **self._own_args(self.get_config()),
        )
        base.build_like(plain, self)
        plain.kernel.assign(ops.convert_to_numpy(self.kernel))
        if self.bias is not None:
            plain.bias.assign(self.bias)
        return plain
