"""`keras_compress.clustering.sensitivity`: macro-F1 per group and cluster count."""

import keras
import numpy as np
import pytest

from keras_compress.clustering import group_layers, sensitivity
from keras_compress.layers import ClusteredLayer
from keras_compress.surgery import tree
from tests.conftest import bert_inputs, small_bert_classifier


@pytest.fixture
def labelled():
    """A small BERT and inputs labelled by its own predictions (float macro-F1 = 1)."""
    model = small_bert_classifier(hidden_dim=32, intermediate_dim=64)
    x = bert_inputs(batch=48, seed=1)
    y = np.argmax(model.predict(x, verbose=0), axis=-1)
    return model, x, y


def test_groups_select_the_expected_layers(bert_classifier):
    def names(group):
        return sorted({p.split("/")[-1] for p, _ in group_layers(bert_classifier, group)})

    assert names("embeddings") == ["position_embedding", "segment_embedding", "token_embedding"]
    assert names("encoder") == ["attention_output", "feedforward_intermediate_dense",
                                "feedforward_output_dense", "key", "query", "value"]
    assert len(group_layers(bert_classifier, "encoder")) == 12
    assert names("pooler") == ["pooled_dense"]
    assert "logits" not in names("all") and len(group_layers(bert_classifier, "all")) == 16
    assert names(r"transformer_layer_1/.*query") == ["query"]


def test_post_training_rows_and_the_model_is_restored(labelled):
    model, x, y = labelled
    before = model.predict(x, verbose=0)
    lines = []
    rows = sensitivity(model, (x, y), clusters=(2, 256), groups=("encoder", "embeddings"),
                       print_fn=lines.append)
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)
    assert [(r["group"], r["clusters"]) for r in rows] == [
        ("float", None), ("encoder", 2), ("encoder", 256), ("embeddings", 2), ("embeddings", 256)]
    assert rows[0]["macro_f1"] == 1.0 and rows[0]["accuracy"] == 1.0
    by = {(r["group"], r["clusters"]): r for r in rows}
    # 256 shared values per matrix barely change a model; 2 do.
    assert by["encoder", 256]["macro_f1"] > by["encoder", 2]["macro_f1"]
    assert by["encoder", 256]["accuracy"] >= 0.9
    assert by["encoder", 2]["layers"] == 12
    assert by["encoder", 2]["macro_f1_delta"] == by["encoder", 2]["macro_f1"] - 1.0
    assert lines[0].startswith("Clustering sensitivity") and len(lines) == 3 + len(rows)


def test_fine_tune_trains_a_clustered_copy_only(labelled):
    model, x, y = labelled
    before = model.predict(x, verbose=0)
    seen = []

    def fine_tune(clustered):
        clustered_paths = sorted("/".join(p) for p, _, layer in tree.walk(clustered)
                                 if isinstance(layer, ClusteredLayer))
        seen.append((clustered, clustered_paths))
        clustered.compile(optimizer=keras.optimizers.Adam(1e-3),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        clustered.fit(x, y, batch_size=16, epochs=2, verbose=0)

    rows = sensitivity(model, (x, y), clusters=(4,), groups=("embeddings",), fine_tune=fine_tune,
                       print_fn=None)
    # First the control (an unclustered copy), then the clustered copy.
    assert len(seen) == 2 and all(copy is not model for copy, _ in seen)
    assert seen[0][1] == []
    assert [p.split("/")[-1] for p in seen[1][1]] == [
        "position_embedding", "segment_embedding", "token_embedding"]
    for row in rows:
        assert 0.0 <= row["macro_f1_fine_tuned"] <= 1.0 and "accuracy_fine_tuned" in row
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)
    assert not any(isinstance(layer, ClusteredLayer) for _, _, layer in tree.walk(model))


def test_bad_arguments_are_named(labelled):
    model, x, y = labelled
    with pytest.raises(ValueError, match="group 'decoder' matches no clusterable layer"):
        sensitivity(model, (x, y), groups=("decoder",), print_fn=None)
    with pytest.raises(ValueError, match="every entry of `clusters`"):
        sensitivity(model, (x, y), clusters=(1,), print_fn=None)
    with pytest.raises(ValueError, match="pair"):
        sensitivity(model, x, print_fn=None)
    with pytest.raises(ValueError, match="1-D integer"):
        sensitivity(model, (x, y.astype("float32")), print_fn=None)
    with pytest.raises(TypeError, match="fine_tune"):
        sensitivity(model, (x, y), fine_tune="yes", print_fn=None)
