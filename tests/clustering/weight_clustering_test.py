"""`WeightClustering`: k-means layers swapped in mid-fit, optimizer rebuilt, training continues."""

import keras
import numpy as np
import pytest

import keras_compress
from keras_compress.callbacks import WeightClustering
from keras_compress.clustering import rebuild_optimizer
from keras_compress.layers import ClusteredLayer, KMeansDense, KMeansEinsumDense, KMeansEmbedding
from keras_compress.surgery import tree
from tests.conftest import bert_inputs


def data(batch=16, seed=0):
    return bert_inputs(batch=batch, seed=seed), np.random.default_rng(seed).integers(0, 3, batch)


def compiled(model, learning_rate=1e-2):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def clustered_layers(model):
    return {"/".join(path): layer for path, _, layer in tree.walk(model)
            if isinstance(layer, ClusteredLayer)}


class Snapshot(keras.callbacks.Callback):
    """Layer types and centroids seen by each training step."""

    def __init__(self):
        super().__init__()
        self.clustered_per_step, self.centroids = [], []

    def on_train_batch_begin(self, batch, logs=None):
        layers = clustered_layers(self.model)
        self.clustered_per_step.append(len(layers))
        self.centroids.append({p: layer.centroids.numpy().copy() for p, layer in layers.items()})


def test_clusters_at_the_requested_step_and_keeps_training(bert_classifier):
    model = compiled(bert_classifier)
    x, y = data()
    snapshot = Snapshot()
    clustering = WeightClustering(n_clusters=4, start_step=3)
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0,
                        callbacks=[clustering, snapshot])
    # 2 layers x (query, key, value, attention output, 2 feed-forward) + pooler.
    assert snapshot.clustered_per_step == [0, 0, 0] + [13] * 5
    assert clustering.clustered_at == 3
    assert history.history["clustered_layers"] == [13, 13]
    assert int(model.optimizer.iterations.numpy()) == 8  # the step count carried over
    assert np.all(np.isfinite(history.history["loss"]))
    layers = clustered_layers(model)
    assert type(layers["bert_backbone/transformer_layer_0/self_attention_layer/query"]) is \
        KMeansEinsumDense
    assert type(layers["bert_backbone/transformer_layer_1/feedforward_output_dense"]) is KMeansDense
    assert type(model.backbone.token_embedding) is not KMeansEmbedding  # not by default
    # The centroids were fine-tuned after clustering.
    for path, layer in layers.items():
        assert np.abs(layer.centroids.numpy() - snapshot.centroids[3][path]).max() > 1e-5, path
    # Stripped: plain layers with at most 4 distinct values per clustered matrix.
    stripped = keras_compress.strip(model)
    encoder = stripped.backbone.transformer_layers[0]
    for dense in (encoder._self_attention_layer._query_dense, encoder._feedforward_output_dense):
        assert type(dense) in (keras.layers.Dense, keras.layers.EinsumDense)
        assert len(np.unique(dense.kernel.numpy())) <= 4
    np.testing.assert_allclose(stripped.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-5)


def test_overrides_embeddings_and_start_epoch(bert_classifier):
    model = compiled(bert_classifier)
    x, y = data()
    clustering = WeightClustering(
        n_clusters=8, start_epoch=1, include_embeddings=True,
        overrides={r"feedforward_intermediate": 2, r"segment_embedding|pooled": None},
    )
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[clustering])
    assert clustering.clustered_at == 2
    layers = clustered_layers(model)
    counts = {path.split("/")[-1]: layer.n_clusters for path, layer in layers.items()}
    assert counts["feedforward_intermediate_dense"] == 2
    assert counts["query"] == counts["token_embedding"] == counts["position_embedding"] == 8
    assert "segment_embedding" not in counts and "pooled_dense" not in counts
    assert "logits" not in counts  # the classifier head is never clustered


def test_clustered_model_saves_loads_and_trains_on(bert_classifier, tmp_path):
    model = compiled(bert_classifier)
    x, y = data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0,
              callbacks=[WeightClustering(n_clusters=4, include_embeddings=True)])
    model.save(tmp_path / "clustered.keras")
    loaded = keras.saving.load_model(tmp_path / "clustered.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for (path, old), new in zip(clustered_layers(model).items(),
                                clustered_layers(loaded).values()):
        np.testing.assert_array_equal(new.assignments.numpy(), old.assignments.numpy(), path)
    # Training on: a fresh callback finds nothing left to cluster and does not re-cluster.
    compiled(loaded)
    before = {p: layer.assignments.numpy().copy()
              for p, layer in clustered_layers(loaded).items()}
    loaded.fit(x, y, batch_size=8, epochs=1, verbose=0,
               callbacks=[WeightClustering(n_clusters=16, include_embeddings=True)])
    for path, layer in clustered_layers(loaded).items():
        assert layer.n_clusters == 4
        np.testing.assert_array_equal(layer.assignments.numpy(), before[path])


def test_rebuilt_optimizer_keeps_the_state_of_untouched_variables(bert_classifier):
    model = compiled(bert_classifier)
    x, y = data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    old = model.optimizer
    norm = model.backbone.transformer_layers[0]._self_attention_layer_norm.gamma
    old_moment = old._momentums[old._get_variable_index(norm)].numpy().copy()
    assert np.abs(old_moment).max() > 0
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keras_compress.swap_layers(model, {keras.layers.Dense: lambda layer: KMeansDense.from_layer(
            layer, n_clusters=4)})
    new = rebuild_optimizer(model)
    assert new is model.optimizer and new is not old
    assert int(new.iterations.numpy()) == int(old.iterations.numpy()) == 2
    np.testing.assert_array_equal(new._momentums[new._get_variable_index(norm)].numpy(),
                                  old_moment)
    centroids = clustered_layers(model)["bert_backbone/pooled_dense"].centroids
    assert np.all(new._momentums[new._get_variable_index(centroids)].numpy() == 0)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n_clusters": 1}, ValueError, "n_clusters"),
    ({"n_clusters": 300}, ValueError, r"\[2, 256\]"),
    ({"start_epoch": 1, "start_step": 3}, ValueError, "at most one"),
    ({"start_step": -2}, ValueError, "start_step"),
    ({"overrides": {"query": 1}}, ValueError, r"overrides\['query'\]"),
    ({"overrides": ["query"]}, TypeError, "overrides"),
])
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        WeightClustering(**kwargs)


def test_model_with_nothing_to_cluster_is_refused():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])  # only the head
    model.compile("adam", "mse")
    with pytest.raises(ValueError, match="no layer to cluster"):
        model.fit(np.ones((4, 4)), np.ones((4, 2)), verbose=0,
                  callbacks=[WeightClustering(n_clusters=2)])
