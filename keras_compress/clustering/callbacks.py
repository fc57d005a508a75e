"""`WeightClustering`: k-means weight sharing switched on in the middle of `model.fit`."""

import warnings

from keras_compress import trigger as trigger_lib
from keras_compress.clustering import targets
from keras_compress.layers import clustered
from keras_compress.stats_callback import StatsCallback
from keras_compress.surgery import swap, tree


class WeightClustering(trigger_lib.Triggered, StatsCallback):
    """Clusters the weights of Dense / EinsumDense (and embedding) layers mid-fit.

    At the start (an epoch's first batch or a global step), every selected
    layer is replaced in place (`swap_layers`) by its k-means twin —
    `KMeansDense`, `KMeansEinsumDense`, `KMeansEmbedding`,
    `KMeansPositionEmbedding` — whose weight is `centroids[assignments]`,
    k-means run on the trained weight. Training then goes on with the same
    `fit` call and fine-tunes the centroids (each gets the summed gradient of
    its weights; assignments stay fixed). `keras_compress.strip` materialises
    the clustered weights into plain layers; `.keras` files store the
    assignments bit-packed.

    The optimizer is rebuilt for the new variables: a fresh optimizer with the
    same configuration, whose state (step count, moments of the layers not
    clustered, learning rate) is copied from the old one. The training step
    is retraced once.

    Layers already compressed by keras_compress, the classifier head (the
    layers producing the model's outputs) and, unless `include_embeddings`,
    embedding tables are not clustered.

    Args:
        n_clusters: clusters per weight matrix, 2 to 256.
        start_epoch: epoch (0-based) at whose first batch clustering happens;
            or
        start_step: global step (`model.optimizer.iterations`) at which it
            happens. Give at most one; default: epoch 0. Or instead
        trigger: a `keras_compress.callbacks.Trigger` (the two above are
            shortcuts that build one).
        overrides: `{regex on the layer path: n_clusters or None}`; the first
            matching pattern sets that layer's cluster count (`None`: leave
            the layer unclustered).
        include_embeddings: also cluster the token, position and segment
            embedding tables.
        include, exclude: regex on the layer path or predicate
            `(layer, path)`, as in `swap_layers`.
        init: k-means initialisation, `"kmeans++"` or `"linear"`.
        seed: seed for `"kmeans++"`.

    Logs `clustered_layers` (number of k-means layers in the model).

    Example:

    >>> import keras, numpy as np, keras_compress
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16),
    ...                           keras.layers.Dense(1)])
    >>> model.compile("adam", "mse")
    >>> clustering = keras_compress.callbacks.WeightClustering(n_clusters=4, start_epoch=1)
    >>> history = model.fit(np.ones((8, 8)), np.ones((8, 1)), epochs=2,
    ...                     callbacks=[clustering], verbose=0)
    >>> history.history["clustered_layers"], type(model.layers[0]).__name__
    ([0, 1], 'KMeansDense')
    """

    def __init__(self, n_clusters=16, start_epoch=None, start_step=None, overrides=None,
                 include_embeddings=False, include=None, exclude=None, init="kmeans++", seed=0, *, trigger=None):
        super().__init__()
        targets.check_n_clusters(n_clusters, "WeightClustering: `n_clusters`")
        #: When clustering happens: a `keras_compress.callbacks.Trigger`.
        self.trigger = trigger_lib.resolve(
            trigger, start_step, start_epoch, "WeightClustering", default_epoch=0
        )
        self.n_clusters = n_clusters
        self.overrides = targets.check_overrides(overrides, "WeightClustering")
        self.include_embeddings = include_embeddings
        self.include = swap.scope_predicate(include, "include", type(self).__name__)
        self.exclude = swap.scope_predicate(exclude, "exclude", type(self).__name__)
        self.init = init
        self.seed = seed
        #: Global step of the first batch trained clustered (None until then).
        self.clustered_at = None

    def apply(self, model):
        """Clusters `model` now, as this callback does at its start; returns `model`.

        For resuming a run that crashed after clustering started: rebuild
        and compile the model as before, call `apply`, then `fit` with
        `BackupAndRestore`, whose saved weights (centroids, assignments,
        optimizer state) then fit the model's clustered layers.
        """
        self.set_model(model)
        self.on_train_begin()
        self._cluster_once()
        return model

    def on_train_begin(self, logs=None):
        if getattr(self.model, "optimizer", None) is None:
            raise ValueError("WeightClustering: compile the model before `fit`.")

    def on_epoch_begin(self, epoch, logs=None):
        if self.trigger.by_epoch and self.trigger.fires(None, epoch):
            self._cluster_once()

    def on_train_batch_begin(self, batch, logs=None):
        if not self.trigger.by_epoch and self.clustered_at is None:
            if self.trigger.fires(self.global_step(), None):
                self._cluster_once()

    def stats(self):
        """`{"clustered_layers": number of k-means layers in the model}`."""
        count = sum(isinstance(layer, clustered.ClusteredLayer) for _, _, layer in tree.walk(self.model))
        return {"clustered_layers": count}

    def _cluster_once(self):
        if self.clustered_at is not None:
            return
        step = self.global_step()
        policy = targets.clustering_policy(self.n_clusters, self.overrides, self.init, self.seed)
        before = self.stats()["clustered_layers"]
        with warnings.catch_warnings():
            # swap_layers warns that the optimizer state belongs to the old
            # layers: rebuilding it is what we do next.
            warnings.filterwarnings("ignore", message=r"swap_layers: model .* already trained")
            swap.swap_layers(
                self.model, policy, include=self.include, exclude=self.exclude,
                include_embeddings=self.include_embeddings,
            )
        after = self.stats()["clustered_layers"]
        if after == 0:
            raise ValueError(
                "WeightClustering: no layer to cluster: the model has no Dense, EinsumDense"
                f"{' or embedding' if self.include_embeddings else ''} layers in scope "
                "(the classifier head and keras_compress layers are skipped)."
            )
        if after > before:
            rebuild_optimizer(self.model)
            self.model.make_train_function(force=True)
        self.clustered_at = step


def rebuild_optimizer(model):
    """Gives `model` a fresh optimizer for its current trainable variables.

    The new optimizer has the old one's configuration; every optimizer
    variable whose name and shape match an old one (the step count, the
    learning rate, the moments of variables that still exist) takes its
    value, so training continues where it was. Call it after changing a
    compiled model's layers in the middle of training, then retrace the
    training step (`model.make_train_function(force=True)`).

    Returns the new optimizer.

    Example:

    >>> import keras, numpy as np, keras_compress
    >>> from keras_compress.clustering import rebuild_optimizer
    >>> from keras_compress.layers import KMeansDense
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16),
    ...                           keras.layers.Dense(1)])
    >>> model.compile("adam", "mse")
    >>> _ = model.fit(np.ones((8, 8)), np.ones((8, 1)), batch_size=4, verbose=0)
    >>> _ = keras_compress.swap_layers(
    ...     model, {keras.layers.Dense: lambda layer: KMeansDense.from_layer(layer, n_clusters=4)})
    >>> optimizer = rebuild_optimizer(model)
    >>> int(optimizer.iterations.numpy()), len(optimizer.variables) > 2
    (2, True)
    """
    old = model.optimizer
    new = type(old).from_config(old.get_config())
    new.build(model.trainable_variables)
    by_name = {}
    for variable in old.variables:
        by_name.setdefault(variable.name, []).append(variable)
    for variable in new.variables:
        matches = by_name.get(variable.name, [])
        if len(matches) == 1 and tuple(matches[0].shape) == tuple(variable.shape):
            variable.assign(matches[0])
    model.optimizer = new
    return new
