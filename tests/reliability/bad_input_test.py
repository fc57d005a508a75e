"""Bad input at each public entry point: a clear error, or it works (docs/reliability.md)."""

import keras
import numpy as np
import pytest

import keras_compress
from keras_compress.callbacks import HeadPruning
from keras_compress.data import load_intents
from keras_compress.layers import MaskedDense, PrunableAttention
from keras_compress.pruning import ConstantSparsity
from keras_compress.surgery import tree
from tests.conftest import bert_inputs


def test_strip_of_a_stripped_model_is_a_plain_copy(bert_classifier):
    keras_compress.swap_layers(bert_classifier, {keras.layers.Dense: MaskedDense})
    once = keras_compress.strip(bert_classifier)
    twice = keras_compress.strip(once)
    assert twice is not once
    x = bert_inputs()
    np.testing.assert_array_equal(twice.predict(x, verbose=0), once.predict(x, verbose=0))


def test_a_head_target_of_every_head_keeps_one_per_layer(bert_classifier):
    keras_compress.swap_layers(bert_classifier, {keras.layers.MultiHeadAttention: PrunableAttention})
    bert_classifier.compile(optimizer="adam",
                            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = bert_inputs(), np.array([0, 1, 2, 0])
    history = bert_classifier.fit(x, y, verbose=0, callbacks=[
        HeadPruning(ConstantSparsity(0.99, 0, frequency=1), data=(x, y))
    ])
    assert history.history["heads_kept"] == [2]  # one per layer
    masks = [layer.head_mask.numpy() for _, _, layer in tree.walk(bert_classifier)
             if isinstance(layer, PrunableAttention)]
    assert [m.sum() for m in masks] == [1, 1]


@pytest.mark.parametrize("content, match", [
    ("", "empty"),
    ('{"text": "hi"}\n', "'text' and 'intent'"),
    ('{"text": "", "intent": "greet"}\n', "non-empty"),
    ("not json\n", ":1:"),
])
def test_bad_data_files_are_named_with_their_line(tmp_path, content, match):
    path = tmp_path / "train.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        load_intents(path)


def test_missing_data_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        load_intents(tmp_path / "missing.jsonl")


def test_head_pruning_without_compile_says_so():
    inputs = keras.Input((5, 8))
    outputs = keras.layers.MultiHeadAttention(2, 4)(inputs, inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(outputs))
    keras_compress.swap_layers(model, {keras.layers.MultiHeadAttention: PrunableAttention})
    data = (np.ones((2, 5, 8), "float32"), np.ones((2, 5, 1), "float32"))
    callback = HeadPruning(ConstantSparsity(0.5, 0), data=data)
    callback.set_model(model)
    callback.find_targets()
    with pytest.raises(ValueError, match="not compiled"):
        callback.prune(0.5)


def test_nan_weights_skip_the_pruning_step_and_keep_the_masks(bert_classifier):
    from keras_compress.callbacks import MagnitudePruning, NeuronPruning

    keras_compress.swap_layers(bert_classifier, {keras.layers.Dense: MaskedDense})
    ffn = bert_classifier.backbone.transformer_layers[0]._feedforward_intermediate_dense
    kernel = ffn.kernel.numpy()
    kernel[0, 0] = np.nan
    ffn.kernel.assign(kernel)
    for callback in (MagnitudePruning(ConstantSparsity(0.5, 0)),
                     NeuronPruning(ConstantSparsity(0.5, 0), importance="weight_norm")):
        callback.set_model(bert_classifier)
        callback.find_targets()
        with pytest.warns(UserWarning, match="NaN or Inf"):
            callback.prune(0.5)
        assert ffn.kernel_mask.numpy().all() and ffn.unit_mask.numpy().all()


def test_nan_gradients_are_skipped_by_importance(bert_classifier):
    from keras_compress.pruning import importance

    keras_compress.swap_layers(bert_classifier, {keras.layers.MultiHeadAttention: PrunableAttention})
    gates = [layer.head_mask for _, _, layer in tree.walk(bert_classifier)
             if isinstance(layer, PrunableAttention)]
    good = (bert_inputs(), np.array([0, 1, 2, 0]))
    bad = (bert_inputs(), np.array([0, 1, 2, 0]), np.array([np.nan, 1.0, 1.0, 1.0]))
    with pytest.warns(UserWarning, match="skipped 1 batch"):
        scores = importance.gate_gradients(bert_classifier, [bad, good], gates)
    assert all(np.all(np.isfinite(s)) for s in scores)
    with pytest.raises(ValueError, match="no usable batch"):
        importance.gate_gradients(bert_classifier, [bad], gates)
