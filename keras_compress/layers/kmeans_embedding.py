"""`KMeansEmbedding`, `KMeansPositionEmbedding`: embedding tables sharing k-means values."""

import keras
from keras import ops

from keras_compress.layers import base
from keras_compress.layers.clustered import ClusteredLayer
from keras_compress.layers.embedding_calls import EmbeddingCalls


class _ClusteredTable(ClusteredLayer, keras.layers.Layer):
    """A clustered embedding table that remembers the layer it replaced (for `to_plain`)."""

    def __init__(self, n_clusters, source, init="kmeans++", **kwargs):
        super().__init__(**kwargs)
        self._init_clusters(n_clusters, init)
        if not isinstance(source, dict) or "config" not in source:
            raise ValueError(
                f"{type(self).__name__}: `source` must be the serialized layer it replaces "
                f"(keras.saving.serialize_keras_object(layer)); received {source!r}."
            )
        self.source = source

    @property
    def embeddings(self):
        """The shared-value table, `centroids[assignments]`."""
        return self.clustered_weight

    def _lookup(self, ids):
        # Gather the rows' indices first: the full table is never materialised.
        return ops.take(self.centroids, ops.take(self.assignments, ids, axis=0))

    def get_config(self):
        return {**super().get_config(), "source": self.source}

    def _ordered_variables(self):
        return [self.centroids, self.assignments]

    @classmethod
    def _from_table(cls, layer, table, n_clusters, init, seed, **kwargs):
        config = layer.get_config()
        new = cls(
            n_clusters=n_clusters,
            source=keras.saving.serialize_keras_object(layer),
            init=init,
            name=config["name"],
            dtype=config["dtype"],
            trainable=config["trainable"],
            **kwargs,
        )
        base.build_like(new, layer)
        new._cluster(table, layer.name, seed)
        return new

    def to_plain(self):
        """The replaced layer (same class and config) holding the clustered table."""
        plain = keras.saving.deserialize_keras_object(self.source)
        if not plain.built:  # the serialized source may carry its build config
            base.build_like(plain, self)
        self._plain_table(plain).assign(ops.convert_to_numpy(self.embeddings))
        return plain


@keras.saving.register_keras_serializable(package="keras_compress")
class KMeansEmbedding(EmbeddingCalls, _ClusteredTable):
    """An `Embedding` whose table is `centroids[assignments]` (k-means weight sharing).

    Replaces `keras.layers.Embedding` and its subclasses (keras-hub's
    `ReversibleEmbedding` with tied weights: `call(x, reverse=True)` projects
    onto the clustered table). A lookup gathers the rows' cluster indices, then
    the centroids; the full float table is never built. `to_plain` gives back
    the replaced layer's class with the clustered values.

    Args:
        input_dim, output_dim: vocabulary size and embedding size.
        n_clusters: number of shared values, 2 to 256.
        source: the serialized layer this one replaces (set by `from_layer`).
        mask_zero: as for `keras.layers.Embedding`.
        init: k-means initialisation used by `from_layer`.

    Example:

    >>> import numpy as np, keras
    >>> from keras_compress.layers import KMeansEmbedding
    >>> table = keras.layers.Embedding(50, 8)
    >>> table.build((None,))
    >>> layer = KMeansEmbedding.from_layer(table, n_clusters=4)
    >>> out = keras.ops.convert_to_numpy(layer(np.array([[1, 2, 3]])))
    >>> out.shape, len(np.unique(out)) <= 4
    ((1, 3, 8), True)
    """

    replaces = (keras.layers.Embedding,)

    def __init__(self, input_dim, output_dim, n_clusters, source, mask_zero=False,
                 init="kmeans++", **kwargs):
        super().__init__(n_clusters, source, init=init, **kwargs)
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.mask_zero = mask_zero
        self.supports_masking = mask_zero

    def build(self, input_shape=None):
        self._build_codebook((self.input_dim, self.output_dim))

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "mask_zero": self.mask_zero,
        }

    @classmethod
    def from_layer(cls, layer, n_clusters=16, init="kmeans++", seed=0):
        """Clusters the table of a built `Embedding` into `n_clusters` values."""
        base.check_source_layer(layer, cls.replaces, cls)
        if getattr(layer, "tie_weights", True) is False:
            raise ValueError(
                f"KMeansEmbedding.from_layer: layer '{layer.name}' has a separate reverse "
                "projection (tie_weights=False); only tied ReversibleEmbeddings are supported."
            )
        if getattr(layer, "logit_soft_cap", None) is not None:
            raise ValueError(
                f"KMeansEmbedding.from_layer: layer '{layer.name}' soft-caps its reverse "
                "logits (logit_soft_cap), which KMeansEmbedding does not support."
            )
        return cls._from_table(
            layer, layer.embeddings, n_clusters, init, seed,
            input_dim=layer.input_dim, output_dim=layer.output_dim, mask_zero=layer.mask_zero,
        )

    def _plain_table(self, plain):
        return plain.embeddings


@keras.saving.register_keras_serializable(package="keras_compress")
class KMeansPositionEmbedding(_ClusteredTable):
    """keras-hub's `PositionEmbedding` with a k-means clustered table.

    Returns the first `sequence_length` rows (from `start_index`, or the rows
    at `positions`), broadcast to the input's shape, as `PositionEmbedding`
    does.

    Args:
        sequence_length: rows of the table (the longest sequence).
        n_clusters: number of shared values, 2 to 256.
        source: the serialized layer this one replaces (set by `from_layer`).
        init: k-means initialisation used by `from_layer`.

    Example:

    >>> import numpy as np, keras_hub
    >>> from keras_compress.layers import KMeansPositionEmbedding
    >>> table = keras_hub.layers.PositionEmbedding(sequence_length=16)
    >>> table.build((None, 16, 8))
    >>> layer = KMeansPositionEmbedding.from_layer(table, n_clusters=4)
    >>> layer(np.zeros((2, 5, 8), "float32")).shape
    TensorShape([2, 5, 8])
    """

    def __init__(self, sequence_length, n_clusters, source, init="kmeans++", **kwargs):
        super().__init__(n_clusters, source, init=init, **kwargs)
        self.sequence_length = int(sequence_length)

    def build(self, inputs_shape):
        self._build_codebook((self.sequence_length, inputs_shape[-1]))

    def call(self, inputs, start_index=0, positions=None):
        shape = ops.shape(inputs)
        if positions is not None:
            if len(ops.shape(positions)) == 1:
                positions = ops.expand_dims(positions, axis=0)
            rows = ops.take(self.assignments, positions, axis=0)
        else:
            rows = ops.slice(self.assignments, (start_index, 0), (shape[-2], shape[-1]))
        return ops.broadcast_to(ops.take(self.centroids, rows), shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length}

    @classmethod
    def from_layer(cls, layer, n_clusters=16, init="kmeans++", seed=0):
        """Clusters the table of a built keras-hub `PositionEmbedding`."""
        import keras_hub

        base.check_source_layer(layer, (keras_hub.layers.PositionEmbedding,), cls)
        return cls._from_table(
            layer, layer.position_embeddings, n_clusters, init, seed,
            sequence_length=layer.sequence_length,
        )

    def _plain_table(self, plain):
        return plain.position_embeddings
