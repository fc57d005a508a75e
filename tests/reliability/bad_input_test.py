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


def _compiled_with_heads(model):
    keras_compress.swap_layers(model, {keras.layers.MultiHeadAttention: PrunableAttention,
                                       keras.layers.Dense: MaskedDense})
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_numpy_scalars_are_accepted_by_the_callbacks(bert_classifier):
    from keras_compress.callbacks import NeuronPruning, QATToggle

    model = _compiled_with_heads(bert_classifier)
    x, y = bert_inputs(), np.array([0, 1, 2, 0])
    heads = HeadPruning(ConstantSparsity(np.float32(0.5), begin_step=np.int64(0)), data=(x, y),
                        num_batches=np.int64(1), min_heads=np.int32(1))
    neurons = NeuronPruning(ConstantSparsity(np.float64(0.25), np.int64(0)), data=(x, y),
                            num_batches=np.int16(1), min_neurons=np.int64(2))
    toggle = QATToggle(start_step=np.int64(0), freeze_ranges_after=np.int64(1))
    assert (heads.num_batches, heads.min_heads, toggle.start_step) == (1, 1, 0)
    assert all(type(v) is int for v in (heads.min_heads, neurons.min_neurons, toggle.start_step))
    history = model.fit(x, y, verbose=0, callbacks=[heads, neurons])
    assert history.history["heads_kept"] == [2]  # 4 heads, half removed
    assert history.history["neurons_kept"] == [48]  # 2 x 32 neurons, a quarter removed


def test_min_heads_above_the_layers_heads_is_refused_before_training(bert_classifier):
    from keras_compress.callbacks import NeuronPruning

    model = _compiled_with_heads(bert_classifier)
    x, y = bert_inputs(), np.array([0, 1, 2, 0])
    before = [w.copy() for w in model.get_weights()]
    for callback, match in [
        (HeadPruning(ConstantSparsity(0.5, 0), data=(x, y), min_heads=10),
         r"`min_heads`=10 is more than layer '.*self_attention_layer' has \(2 heads"),
        (NeuronPruning(ConstantSparsity(0.5, 0), importance="weight_norm", min_neurons=33),
         r"`min_neurons`=33 .*\(32 neurons"),
    ]:
        with pytest.raises(ValueError, match=match):
            model.fit(x, y, verbose=0, callbacks=[callback])
    for old, new in zip(before, model.get_weights()):  # refused before any step
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("num_batches", [0, -1, 1.5, "8"])
def test_num_batches_below_one_is_refused_at_construction(num_batches):
    from keras_compress.callbacks import NeuronPruning

    data = (np.ones((2, 4)), np.ones(2))
    with pytest.raises(ValueError, match=r"HeadPruning: `num_batches` must be an integer >= 1"):
        HeadPruning(ConstantSparsity(0.5), data=data, num_batches=num_batches)
    with pytest.raises(ValueError, match=r"NeuronPruning: `num_batches`"):
        NeuronPruning(ConstantSparsity(0.5), data=data, num_batches=num_batches)


@pytest.mark.parametrize("data", [
    bert_inputs(),                      # a bare dict of inputs
    (bert_inputs(),),                   # a tuple without labels
    (bert_inputs(), None),
    "train.jsonl",
])
def test_data_without_labels_is_refused_naming_data(data):
    from keras_compress.callbacks import NeuronPruning

    for make in (lambda: HeadPruning(ConstantSparsity(0.5), data=data),
                 lambda: NeuronPruning(ConstantSparsity(0.5), data=data)):
        with pytest.raises(ValueError, match=r"`data` must be an \(x, y\) or \(x, y, "
                                             r"sample_weight\) tuple, a tf.data.Dataset"):
            make()


def test_a_dataset_of_inputs_without_labels_is_named_when_scoring(bert_classifier):
    import tensorflow as tf

    model = _compiled_with_heads(bert_classifier)
    x, y = bert_inputs(), np.array([0, 1, 2, 0])
    unlabeled = tf.data.Dataset.from_tensor_slices(x).batch(2)
    with pytest.raises(ValueError, match=r"batch of `data` has no labels.*\(x, y\)"):
        model.fit(x, y, verbose=0, callbacks=[
            HeadPruning(ConstantSparsity(0.5, 0), data=unlabeled)])


@pytest.mark.parametrize("call", [
    lambda: keras_compress.swap_layers(None, {keras.layers.Dense: MaskedDense}),
    lambda: keras_compress.strip(None),
    lambda: keras_compress.summary(None),
    lambda: keras_compress.strip(model="model.keras"),
])
def test_a_model_that_is_not_a_model_is_a_type_error_naming_model(call):
    with pytest.raises(TypeError, match=r"`model` must be a .*keras.Model.*; received"):
        call()


def test_a_bad_include_regex_names_the_argument_and_the_regex_error(bert_classifier):
    from keras_compress.callbacks import MagnitudePruning, QATToggle

    with pytest.raises(ValueError, match=r"swap_layers: `include` is not a valid regular "
                                         r"expression \('dense\['\): unterminated"):
        keras_compress.swap_layers(bert_classifier, {keras.layers.Dense: MaskedDense},
                                   include="dense[")
    assert not any(isinstance(layer, MaskedDense) for _, _, layer in tree.walk(bert_classifier))
    with pytest.raises(ValueError, match=r"MagnitudePruning: `exclude` is not a valid regular"):
        MagnitudePruning(ConstantSparsity(0.5), exclude="(attention")
    with pytest.raises(ValueError, match=r"QATToggle: `include` is not a valid regular"):
        QATToggle(start_step=0, include="*dense")


def test_numpy_scalars_are_accepted_across_the_package():
    import json

    from keras_compress.callbacks import MagnitudePruning, WeightClustering
    from keras_compress.distillation import DistillationLoss
    from keras_compress.layers import KMeansDense, QuantizedDense

    loss = DistillationLoss(temperature=np.float32(2.0), alpha=np.float64(0.5))
    assert (loss.temperature, loss.alpha) == (2.0, 0.5)
    clustering = WeightClustering(n_clusters=np.int64(4), start_epoch=np.int64(1))
    assert type(clustering.start_epoch) is int
    pruning = MagnitudePruning(ConstantSparsity(0.5), pattern=(np.int64(1), np.int64(4)))
    assert pruning.pattern == ("block", 1, 4)
    for layer in (KMeansDense(np.int64(4), n_clusters=np.int32(2)),
                  QuantizedDense(4, range_momentum=np.float32(0.9))):
        json.dumps(layer.get_config())  # plain Python numbers in the config
