import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_compress
from keras_compress.layers import (
    CompressedLayer,
    KMeansDense,
    MaskedDense,
    MaskedEinsumDense,
    PrunableAttention,
)
from keras_compress.surgery import tree
from tests.conftest import bert_inputs

MAPPING = {
    keras.layers.MultiHeadAttention: PrunableAttention,
    keras.layers.EinsumDense: MaskedEinsumDense,
    keras.layers.Dense: MaskedDense,
}


def pruned_bert(bert_classifier):
    keras_compress.swap_layers(bert_classifier, MAPPING)
    rng = np.random.default_rng(0)
    for encoder in bert_classifier.backbone.transformer_layers:
        encoder._self_attention_layer.head_mask.assign([1.0, 0.0])
        ffn = encoder._feedforward_intermediate_dense
        ffn.unit_mask.assign((rng.random(32) > 0.5).astype("float32"))
        for projection in ("_query_dense", "_value_dense", "_output_dense"):
            dense = getattr(encoder._self_attention_layer, projection)
            dense.kernel_mask.assign((rng.random(dense.kernel_mask.shape) > 0.3).astype("float32"))
    return bert_classifier


def test_strip_removes_pruned_heads_and_neurons_with_equal_outputs(bert_classifier):
    model = pruned_bert(bert_classifier)
    x = bert_inputs()
    expected = model.predict(x, verbose=0)
    kept_neurons = [
        int(e._feedforward_intermediate_dense.unit_mask.numpy().sum())
        for e in model.backbone.transformer_layers
    ]
    stripped = keras_compress.strip(model)
    assert not any(isinstance(layer, CompressedLayer) for _, _, layer in tree.walk(stripped))
    assert type(stripped).__name__ == "BertTextClassifier"
    for encoder, kept in zip(stripped.backbone.transformer_layers, kept_neurons):
        attention = encoder._self_attention_layer
        assert type(attention) is keras.layers.MultiHeadAttention
        assert attention.num_heads == 1
        assert attention._query_dense.kernel.shape == (16, 1, 8)
        assert attention._output_dense.kernel.shape == (1, 8, 16)
        assert encoder._feedforward_intermediate_dense.kernel.shape == (16, kept)
        assert encoder._feedforward_output_dense.kernel.shape == (kept, 16)
    np.testing.assert_allclose(stripped.predict(x, verbose=0), expected, atol=1e-5)
    # The compressed model is untouched.
    assert type(model.backbone.transformer_layers[0]._self_attention_layer) is PrunableAttention
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)


def test_shrunk_model_saves_loads_and_trains(bert_classifier, tmp_path):
    stripped = keras_compress.strip(pruned_bert(bert_classifier))
    x = bert_inputs()
    expected = stripped.predict(x, verbose=0)
    stripped.save(tmp_path / "shrunk.keras")
    loaded = keras.saving.load_model(tmp_path / "shrunk.keras")
    assert loaded.backbone.transformer_layers[0]._self_attention_layer.num_heads == 1
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-6)
    loaded.compile(optimizer="adam",
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    loaded.fit(x, np.array([0, 1, 2, 0]), epochs=1, verbose=0)


def test_strip_refuses_a_layer_with_every_head_pruned(bert_classifier):
    keras_compress.swap_layers(bert_classifier, MAPPING)
    bert_classifier.backbone.transformer_layers[0]._self_attention_layer.head_mask.assign([0.0, 0.0])
    with pytest.raises(ValueError, match="every head is pruned"):
        keras_compress.strip(bert_classifier)


def test_strip_materialises_kmeans_kernels():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), keras.layers.Dense(2)])
    keras_compress.swap_layers(
        model, {keras.layers.Dense: lambda layer: KMeansDense.from_layer(layer, n_clusters=4)}
    )
    x = np.random.default_rng(0).normal(size=(3, 8)).astype("float32")
    stripped = keras_compress.strip(model)
    assert type(stripped.layers[0]) is keras.layers.Dense
    assert len(np.unique(stripped.layers[0].kernel.numpy())) <= 4
    np.testing.assert_allclose(stripped.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_stripped_model_loads_without_keras_compress(bert_classifier, tmp_path):
    """With only weight masks nothing changes shape: a plain keras-hub model comes out."""
    keras_compress.swap_layers(bert_classifier, MAPPING)
    model = bert_classifier
    rng = np.random.default_rng(0)
    for _, _, layer in tree.walk(model):
        if isinstance(layer, (MaskedDense, MaskedEinsumDense)):
            layer.kernel_mask.assign((rng.random(layer.kernel_mask.shape) > 0.5).astype("float32"))
    x = bert_inputs()
    np.savez(tmp_path / "io.npz", expected=model.predict(x, verbose=0), **x)
    keras_compress.strip(model).save(tmp_path / "stripped.keras")
    script = textwrap.dedent(
        f"""
        import sys, numpy as np, keras
        import keras_hub  # the model's own package
        model = keras.saving.load_model({str(tmp_path / "stripped.keras")!r})
        data = np.load({str(tmp_path / "io.npz")!r})
        x = {{k: data[k] for k in ("token_ids", "segment_ids", "padding_mask")}}
        diff = np.abs(model.predict(x, verbose=0) - data["expected"]).max()
        assert "keras_compress" not in sys.modules, "keras_compress was imported"
        assert diff <= 1e-5, diff
        print("ok", diff)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ok" in result.stdout


def test_strip_refuses_an_unbakeable_neuron_mask():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="sigmoid")])
    keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense}, include_classifier=True)
    model.layers[0].unit_mask.assign([1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="sigmoid"):
        keras_compress.strip(model)


def test_strip_of_a_trained_model_does_not_warn_about_its_optimizer():
    import warnings

    from keras_compress.layers import MaskedDense

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense})
    model.compile("adam", "mse")
    model.fit(np.ones((4, 4)), np.ones((4, 2)), verbose=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keras_compress.strip(model)
    assert not [w for w in caught if "swap_layers" in str(w.message)]
