"""Which layers can be clustered, into which k-means layer, and which weight is clustered."""

import functools
import re

import keras

from keras_compress import checks
from keras_compress.layers import base
from keras_compress.surgery import tree


def _position_embedding_type():
    try:
        import keras_hub
    except ImportError:  # pragma: no cover - keras-hub is a dependency
        return ()
    return (keras_hub.layers.PositionEmbedding,)


def clustered_type(layer):
    """The `keras_compress` k-means layer class for `layer`, or None if it has none.

    `keras_compress` layers (already compressed) are not clustered again.
    """
    from keras_compress import layers

    if isinstance(layer, base.CompressedLayer):
        return None
    if isinstance(layer, keras.layers.EinsumDense):
        return layers.KMeansEinsumDense
    if isinstance(layer, keras.layers.Dense):
        return layers.KMeansDense
    if isinstance(layer, keras.layers.Embedding):
        return layers.KMeansEmbedding
    if isinstance(layer, _position_embedding_type()):
        return layers.KMeansPositionEmbedding
    return None


def weight_variable(layer):
    """The variable a k-means layer would cluster: kernel or embedding table."""
    if isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense)):
        return layer._kernel
    if isinstance(layer, keras.layers.Embedding):
        return layer._embeddings
    if isinstance(layer, _position_embedding_type()):
        return layer.position_embeddings
    raise TypeError(f"Layer '{layer.name}' ({type(layer).__name__}) has no clusterable weight.")


def check_overrides(overrides, owner):
    """`[(compiled regex, n_clusters or None), ...]` from a `{regex: n_clusters}` dict."""
    if overrides is None:
        return []
    if not isinstance(overrides, dict):
        raise TypeError(
            f"{owner}: `overrides` must be a dict {{regex on the layer path: n_clusters or "
            f"None}}; received {type(overrides).__name__}."
        )
    checked = []
    for pattern, n_clusters in overrides.items():
        if not isinstance(pattern, str):
            raise TypeError(f"{owner}: `overrides` keys must be regex strings; received {pattern!r}.")
        if n_clusters is not None:
            check_n_clusters(n_clusters, f"{owner}: `overrides[{pattern!r}]`")
        checked.append((re.compile(pattern), n_clusters))
    return checked


def check_n_clusters(n_clusters, what):
    from keras_compress.layers.clustered import MAX_CLUSTERS

    if not checks.is_integer(n_clusters) or not (
        2 <= n_clusters <= MAX_CLUSTERS
    ):
        raise ValueError(f"{what} must be an integer in [2, {MAX_CLUSTERS}]; received {n_clusters!r}.")


def clustering_policy(n_clusters, overrides=(), init="kmeans++", seed=0):
    """A `swap_layers` policy putting k-means layers in place of clusterable layers."""

    def policy(layer, path):
        target = clustered_type(layer)
        if target is None:
            return None
        count = n_clusters
        for pattern, value in overrides:
            if pattern.search(path):
                count = value
                break
        if count is None:
            return None
        return functools.partial(target.from_layer, n_clusters=count, init=init, seed=seed)

    return policy


GROUPS = ("encoder", "embeddings", "pooler", "all")


def group_layers(model, group):
    """`[(path, layer)]` of the clusterable layers of `group` in `model`.

    Groups: `"encoder"` (Dense and EinsumDense inside transformer layers),
    `"embeddings"` (token, position and segment tables), `"pooler"` (keras-hub
    BERT's `pooled_dense`), `"all"` (every clusterable layer except the
    classifier head); any other string is a regex on the layer path. The
    classifier head (the layers producing the model's outputs) is never part
    of a group.

    Example:

    >>> import keras_hub
    >>> from keras_compress.clustering import group_layers
    >>> backbone = keras_hub.models.BertBackbone(vocabulary_size=50, num_layers=1,
    ...     num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16)
    >>> model = keras_hub.models.BertTextClassifier(backbone, 2, preprocessor=None)
    >>> [path.split("/")[-1] for path, _ in group_layers(model, "embeddings")]
    ['token_embedding', 'position_embedding', 'segment_embedding']
    """
    if not isinstance(group, str):
        raise TypeError(f"a group must be a string; received {group!r}.")
    heads = {id(layer) for layer in tree.output_layers(model)}
    selected = []
    for path, _, layer in tree.walk(model):
        if id(layer) in heads or clustered_type(layer) is None:
            continue
        path = "/".join(path)
        embedding = tree.is_embedding(layer)
        if group == "embeddings":
            keep = embedding
        elif group == "encoder":
            keep = not embedding and re.search(r"(^|/)transformer_layer", path) is not None
        elif group == "pooler":
            keep = not embedding and re.search(r"pooled_dense$", path) is not None
        elif group == "all":
            keep = True
        else:
            keep = re.search(group, path) is not None
        if keep:
            selected.append((path, layer))
    return selected
