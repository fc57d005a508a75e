import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_compress
from keras_compress.callbacks import HeadPruning, MagnitudePruning, NeuronPruning
from keras_compress.layers import MaskedDense, MaskedEinsumDense, PrunableAttention
from keras_compress.pruning import ConstantSparsity, IterativePruning, PolynomialDecay
from keras_compress.pruning.importance import rank_and_mask
from keras_compress.surgery import tree
from tests.conftest import bert_inputs

MAPPING = {
    keras.layers.MultiHeadAttention: PrunableAttention,
    keras.layers.EinsumDense: MaskedEinsumDense,
    keras.layers.Dense: MaskedDense,
}


def compressible(model, lr=1e-3):
    keras_compress.swap_layers(model, MAPPING)
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def data(batch=16, seed=0):
    x = bert_inputs(batch=batch, seed=seed)
    y = np.random.default_rng(seed).integers(0, 3, batch)
    return x, y


def masked_layers(model):
    return [layer for _, _, layer in tree.walk(model)
            if isinstance(layer, (MaskedDense, MaskedEinsumDense))]


def test_polynomial_magnitude_pruning_reaches_target_at_end_step(bert_classifier):
    model = compressible(bert_classifier)
    x, y = data()
    schedule = PolynomialDecay(0.0, 0.7, begin_step=0, end_step=6, frequency=2)
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0,
                        callbacks=[MagnitudePruning(schedule)])  # 8 steps
    assert history.history["sparsity"][-1] == pytest.approx(0.7, abs=0.005)
    for layer in masked_layers(model):
        kernel = layer.kernel.numpy()
        assert np.mean(kernel == 0) == pytest.approx(0.7, abs=0.005), layer.name
        assert np.all(kernel[layer.kernel_mask.numpy() == 0] == 0)


def test_global_ranking_reaches_overall_target(bert_classifier):
    model = compressible(bert_classifier)
    # Make one layer's weights tiny: a global threshold prunes it first.
    ffn = model.backbone.transformer_layers[0]._feedforward_intermediate_dense
    ffn.kernel.assign(ffn.kernel.numpy() * 1e-3)
    x, y = data()
    callback = MagnitudePruning(ConstantSparsity(0.3, 0, frequency=1), granularity="global")
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[callback])
    assert history.history["sparsity"][-1] == pytest.approx(0.3, abs=0.005)
    assert np.mean(ffn.kernel_mask.numpy() == 0) == 1.0


def test_two_four_pattern_holds_after_training(bert_classifier):
    model = compressible(bert_classifier)
    x, y = data()
    callback = MagnitudePruning(ConstantSparsity(0.5, 0, frequency=1), pattern="2:4",
                                include="transformer_layer")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[callback])
    for _, layer in callback.layers:
        kernel = layer.kernel.numpy()
        if isinstance(layer, MaskedEinsumDense) and layer.name == "attention_output":
            kernel = kernel.reshape(-1, kernel.shape[-1])  # (heads * head_dim, out)
        groups = (kernel != 0).reshape(kernel.shape[0] // 4, 4, -1)
        assert np.all(groups.sum(axis=1) <= 2), layer.name


def test_block_pattern_prunes_whole_blocks(bert_classifier):
    model = compressible(bert_classifier)
    x, y = data()
    callback = MagnitudePruning(ConstantSparsity(0.5, 0, frequency=1), pattern=(1, 4),
                                include="feedforward")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[callback])
    for _, layer in callback.layers:
        blocks = (layer.kernel_mask.numpy() != 0).reshape(layer.kernel.shape[0], -1, 4)
        assert np.all(blocks.all(axis=-1) | ~blocks.any(axis=-1))
        assert blocks.mean() == pytest.approx(0.5, abs=0.05)


def test_neuron_pruning_removes_units_iteratively(bert_classifier):
    model = compressible(bert_classifier)
    x, y = data()
    sample = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    schedule = IterativePruning(0.25, final_sparsity=0.5, begin_step=0, frequency=4)
    callback = NeuronPruning(schedule, data=sample, num_batches=2)
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[callback])
    kept = history.history["neurons_kept"]
    assert kept[0] == 48 and kept[-1] == 32  # 2 layers x 32 units: -25% then -50%
    for encoder in model.backbone.transformer_layers:
        ffn = encoder._feedforward_intermediate_dense
        assert ffn.unit_mask.numpy().sum() == 16
        assert np.all(ffn.kernel.numpy()[:, ffn.unit_mask.numpy() == 0] == 0)

    stripped = keras_compress.strip(model)
    for encoder in stripped.backbone.transformer_layers:
        assert encoder._feedforward_intermediate_dense.kernel.shape == (16, 16)
        assert encoder._feedforward_output_dense.kernel.shape == (16, 16)
    np.testing.assert_allclose(stripped.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-5)


def test_weight_norm_neuron_pruning_needs_no_data(bert_classifier):
    model = compressible(bert_classifier)
    ffn = model.backbone.transformer_layers[1]._feedforward_intermediate_dense
    kernel = ffn.kernel.numpy()
    kernel[:, :4] *= 1e-3  # the four weakest units
    ffn.kernel.assign(kernel)
    x, y = data()
    callback = NeuronPruning(ConstantSparsity(0.125, 0, frequency=100), importance="weight_norm")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[callback])
    np.testing.assert_array_equal(ffn.unit_mask.numpy()[:4], 0)


def test_head_pruning_removes_the_head_that_does_nothing_first(bert_classifier):
    model = compressible(bert_classifier)
    attention = model.backbone.transformer_layers[1]._self_attention_layer
    kernel = attention._output_dense.kernel.numpy()
    kernel[1] = 0.0  # head 1 of layer 1 has no effect on the output: zero importance
    attention._output_dense.kernel.assign(kernel)
    x, y = data()
    callback = HeadPruning(ConstantSparsity(0.25, 0, frequency=100), data=(x, y))
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[callback])
    assert history.history["heads_kept"] == [3]
    np.testing.assert_array_equal(attention.head_mask.numpy(), [1, 0])


def test_head_pruning_keeps_a_head_per_layer_and_never_revives(bert_classifier):
    model = compressible(bert_classifier)
    x, y = data()
    callback = HeadPruning(IterativePruning(0.25, 0.75, 0, frequency=1), data=(x, y))
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append([layer.head_mask.numpy().copy() for layer in callback.layers])

    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[callback, Record()])
    for before, after in zip(seen, seen[1:]):
        for b, a in zip(before, after):
            assert np.all(a <= b)
    assert all(mask.sum() >= 1 for mask in seen[-1])
    assert sum(mask.sum() for mask in seen[-1]) == 2  # 75% of 4 asked, one kept per layer


def test_rank_and_mask_normalises_per_layer_and_respects_minimum():
    scores = [np.array([1.0, 2.0, 3.0, 4.0]), np.array([100.0, 200.0, 300.0, 400.0])]
    masks = [np.ones(4), np.ones(4)]
    new = rank_and_mask(scores, masks, 0.25, "global", 1)
    # After per-layer normalisation the two layers look alike: one unit from each.
    np.testing.assert_array_equal(new[0], [0, 1, 1, 1])
    np.testing.assert_array_equal(new[1], [0, 1, 1, 1])
    new = rank_and_mask(scores, masks, 0.99, "global", 2)
    assert [m.sum() for m in new] == [2, 2]


def test_callbacks_explain_what_is_missing():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("adam", "mse")
    x, y = np.ones((4, 4)), np.ones((4, 2))
    for callback, match in [
        (MagnitudePruning(ConstantSparsity(0.5)), "swap them in first"),
        (NeuronPruning(ConstantSparsity(0.5), importance="weight_norm"), "feed-forward"),
        (HeadPruning(ConstantSparsity(0.5), data=(x, y)), "PrunableAttention"),
    ]:
        with pytest.raises(ValueError, match=match):
            model.fit(x, y, verbose=0, callbacks=[callback])
    with pytest.raises(ValueError, match="needs `data`"):
        NeuronPruning(ConstantSparsity(0.5))
    with pytest.raises(TypeError, match="schedule"):
        MagnitudePruning(0.5)
    with pytest.raises(ValueError, match="granularity"):
        MagnitudePruning(ConstantSparsity(0.5), granularity="row")
