import functools
import re

import keras
import numpy as np
import pytest

import keras_compress
from keras_compress.layers import (
    KMeansDense,
    MaskedDense,
    MaskedEinsumDense,
    PrunableAttention,
    QuantizedDense,
)
from tests.conftest import bert_inputs, small_bert_classifier

BERT_MAPPING = {
    keras.layers.MultiHeadAttention: PrunableAttention,
    keras.layers.EinsumDense: MaskedEinsumDense,
    keras.layers.Dense: MaskedDense,
}


def functional_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    x = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    x = keras.layers.LayerNormalization(name="norm")(x)
    outputs = keras.layers.Dense(3, name="head")(x)
    return keras.Model(inputs, outputs)


def sequential_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu", name="hidden"),
            keras.layers.Dense(3, name="head"),
        ]
    )


X = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")


def type_names(model):
    return {layer.name: type(layer).__name__ for layer in model.layers}


@pytest.mark.parametrize("make_model", [functional_model, sequential_model])
def test_swap_keeps_outputs_and_skips_the_classifier_head(make_model):
    model = make_model()
    expected = model.predict(X, verbose=0)
    same = keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense})
    assert same is model  # in place
    assert type_names(model)["hidden"] == "MaskedDense"
    assert type_names(model)["head"] == "Dense"
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, atol=1e-5)
    assert any("kernel_mask" in v.path for v in model.non_trainable_variables)


@pytest.mark.parametrize("make_model", [functional_model, sequential_model])
def test_swapped_model_trains_and_saves(make_model, tmp_path):
    model = make_model()
    keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense}, include_classifier=True)
    hidden = model.get_layer("hidden")
    hidden.kernel_mask.assign((np.arange(48).reshape(6, 8) % 2).astype("float32"))
    model.compile(optimizer="adam", loss="mse")
    model.fit(X, np.ones((4, 3), "float32"), epochs=5, verbose=0)
    assert np.all(hidden.kernel.numpy()[hidden.kernel_mask.numpy() == 0] == 0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type_names(loaded) == type_names(model)
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


def test_subclasses_of_mapping_keys_match():
    class MyDense(keras.layers.Dense):
        pass

    inputs = keras.Input((6,))
    x = MyDense(4, name="mine")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense})
    assert type(model.get_layer("mine")) is MaskedDense


def test_include_and_exclude_by_regex_and_predicate():
    model = small_bert_classifier()
    keras_compress.swap_layers(
        model,
        {keras.layers.Dense: MaskedDense},
        include=r"feedforward",
        exclude=lambda layer, path: "transformer_layer_1" in path,
    )
    swapped = [
        "/".join(path) for path, _, layer in keras_compress.surgery.tree.walk(model)
        if isinstance(layer, MaskedDense)
    ]
    assert swapped == [
        "bert_backbone/transformer_layer_0/feedforward_intermediate_dense",
        "bert_backbone/transformer_layer_0/feedforward_output_dense",
    ]


def test_policy_callable_and_partial_targets():
    model = functional_model()
    kmeans4 = functools.partial(KMeansDense.from_layer, n_clusters=4)
    keras_compress.swap_layers(
        model, lambda layer, path: kmeans4 if path == "hidden" else None
    )
    assert type_names(model)["hidden"] == "KMeansDense"
    assert len(np.unique(model.get_layer("hidden").kernel.numpy())) <= 4


def test_bert_classifier_swap_keeps_outputs(bert_classifier):
    x = bert_inputs()
    expected = bert_classifier.predict(x, verbose=0)
    keras_compress.swap_layers(bert_classifier, BERT_MAPPING)
    np.testing.assert_allclose(bert_classifier.predict(x, verbose=0), expected, atol=1e-5)
    encoder = bert_classifier.backbone.transformer_layers[0]
    assert type(encoder._self_attention_layer) is PrunableAttention
    assert type(encoder._self_attention_layer._query_dense) is MaskedEinsumDense
    assert type(encoder._feedforward_intermediate_dense) is MaskedDense
    assert type(bert_classifier.output_dense) is keras.layers.Dense  # classifier excluded
    assert type(bert_classifier.backbone.token_embedding).__name__ == "ReversibleEmbedding"
    # The new layers' variables are the model's variables.
    paths = {id(v) for v in bert_classifier.variables}
    assert id(encoder._self_attention_layer.head_mask) in paths
    assert id(encoder._feedforward_intermediate_dense.kernel_mask) in paths


def test_bert_classifier_trains_with_pruned_weights_and_round_trips(bert_classifier, tmp_path):
    x = bert_inputs()
    y = np.array([0, 1, 2, 1])
    keras_compress.swap_layers(bert_classifier, BERT_MAPPING)
    encoder = bert_classifier.backbone.transformer_layers[1]
    encoder._self_attention_layer.head_mask.assign([0.0, 1.0])
    ffn = encoder._feedforward_intermediate_dense
    ffn.unit_mask.assign(np.r_[np.ones(16), np.zeros(16)].astype("float32"))
    query = encoder._self_attention_layer._query_dense
    query.kernel_mask.assign((np.random.default_rng(0).random((16, 2, 8)) > 0.5).astype("float32"))
    bert_classifier.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    bert_classifier.fit(x, y, epochs=3, verbose=0)
    assert np.all(ffn.kernel.numpy()[:, 16:] == 0) and np.all(ffn.bias.numpy()[16:] == 0)
    assert np.all(query.kernel.numpy()[query.kernel_mask.numpy() == 0] == 0)

    expected = bert_classifier.predict(x, verbose=0)
    bert_classifier.save(tmp_path / "bert.keras")
    loaded = keras.saving.load_model(tmp_path / "bert.keras")
    loaded_encoder = loaded.backbone.transformer_layers[1]
    assert type(loaded).__name__ == "BertTextClassifier"
    np.testing.assert_array_equal(loaded_encoder._self_attention_layer.head_mask.numpy(), [0, 1])
    np.testing.assert_array_equal(
        loaded_encoder._self_attention_layer._query_dense.kernel_mask.numpy(),
        query.kernel_mask.numpy(),
    )
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)


def test_distilbert_backbone_swap():
    import keras_hub

    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.DistilBertBackbone(
        vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=16,
    )
    x = {k: v for k, v in bert_inputs().items() if k != "segment_ids"}
    expected = backbone.predict(x, verbose=0)
    keras_compress.swap_layers(backbone, BERT_MAPPING)
    np.testing.assert_allclose(backbone.predict(x, verbose=0), expected, atol=1e-5)
    assert type(backbone.transformer_layers[0]._feedforward_output_dense) is MaskedDense


def test_second_swap_needs_an_explicit_compressed_key(bert_classifier):
    keras_compress.swap_layers(bert_classifier, {keras.layers.Dense: MaskedDense})
    keras_compress.swap_layers(bert_classifier, {keras.layers.Dense: QuantizedDense})
    ffn = bert_classifier.backbone.transformer_layers[0]._feedforward_output_dense
    assert type(ffn) is MaskedDense  # compressed layers are left alone
    keras_compress.swap_layers(
        bert_classifier, {MaskedDense: functools.partial(KMeansDense.from_layer, n_clusters=4)}
    )
    ffn = bert_classifier.backbone.transformer_layers[0]._feedforward_output_dense
    assert type(ffn) is KMeansDense


def test_failed_swap_leaves_the_model_unchanged(bert_classifier):
    x = bert_inputs()
    expected = bert_classifier.predict(x, verbose=0)
    before = [(path, id(layer)) for path, _, layer in keras_compress.surgery.tree.walk(bert_classifier)]

    def policy(layer, path):
        if path.endswith("transformer_layer_1/feedforward_output_dense"):
            return functools.partial(KMeansDense.from_layer, n_clusters=10**6)
        if isinstance(layer, keras.layers.Dense):
            return MaskedDense
        return None

    with pytest.raises(ValueError, match=re.escape("transformer_layer_1/feedforward_output_dense")):
        keras_compress.swap_layers(bert_classifier, policy)
    after = [(path, id(layer)) for path, _, layer in keras_compress.surgery.tree.walk(bert_classifier)]
    assert after == before
    assert type(bert_classifier).__mro__[1] is not type(bert_classifier)  # not re-classed
    np.testing.assert_array_equal(bert_classifier.predict(x, verbose=0), expected)


def test_unsupported_targets_and_arguments_give_clear_errors(bert_classifier):
    with pytest.raises(ValueError, match="not built"):
        keras_compress.swap_layers(keras.Sequential([keras.layers.Dense(2)]), {})
    with pytest.raises(TypeError, match="mapping keys must be keras Layer classes"):
        keras_compress.swap_layers(bert_classifier, {"Dense": MaskedDense})
    with pytest.raises(TypeError, match="mapping_or_policy"):
        keras_compress.swap_layers(bert_classifier, [MaskedDense])
    with pytest.raises(TypeError, match="`include` must be"):
        keras_compress.swap_layers(bert_classifier, {}, include=3)
    with pytest.raises(TypeError, match="expected one of: MultiHeadAttention"):
        keras_compress.swap_layers(bert_classifier, {keras.layers.Dense: PrunableAttention})
    with pytest.raises(ValueError, match="must keep the name"):
        keras_compress.swap_layers(
            bert_classifier,
            {keras.layers.Dense: lambda layer: MaskedDense.from_layer(layer, name="other")},
        )


def test_swapping_a_trained_model_warns_to_recompile():
    model = functional_model()
    model.compile(optimizer="adam", loss="mse")
    model.fit(X, np.zeros((4, 3)), verbose=0)
    with pytest.warns(UserWarning, match="compile"):
        keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense})
    model.compile(optimizer="adam", loss="mse")
    model.fit(X, np.zeros((4, 3)), verbose=0)
