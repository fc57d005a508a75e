"""A fit interrupted mid-pruning resumes with its masks and schedule intact."""

import keras
import numpy as np
import pytest

import keras_compress
from keras_compress.callbacks import HeadPruning, MagnitudePruning, NeuronPruning
from keras_compress.layers import MaskedDense, MaskedEinsumDense, PrunableAttention
from keras_compress.pruning import IterativePruning, PolynomialDecay
from keras_compress.surgery import tree
from tests.conftest import bert_inputs


class Crash(keras.callbacks.Callback):
    """Raises in the middle of training, like a killed process."""

    def __init__(self, at_step):
        super().__init__()
        self.at_step = at_step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == self.at_step:
            raise RuntimeError("injected crash")


def fresh_model(swaps="pruning"):
    """The same small BERT classifier every time (a new process would rebuild it so),
    with the compression layers of `swaps` ("pruning", "qat" or None) swapped in."""
    import keras_hub

    from keras_compress.layers import QuantizedDense, QuantizedEinsumDense

    keras.backend.clear_session()
    keras.utils.set_random_seed(7)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=16, dropout=0.0,
    )
    model = keras_hub.models.BertTextClassifier(backbone, num_classes=3, preprocessor=None,
                                                dropout=0.0)
    mapping = {
        "pruning": {
            keras.layers.MultiHeadAttention: PrunableAttention,
            keras.layers.EinsumDense: MaskedEinsumDense,
            keras.layers.Dense: MaskedDense,
        },
        "qat": {keras.layers.EinsumDense: QuantizedEinsumDense, keras.layers.Dense: QuantizedDense},
        None: None,
    }[swaps]
    if mapping:
        keras_compress.swap_layers(model, mapping)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def callbacks(x, y):
    return [
        MagnitudePruning(PolynomialDecay(0.0, 0.6, begin_step=0, end_step=10, frequency=2),
                         include="self_attention"),
        NeuronPruning(IterativePruning(0.25, 0.5, begin_step=1, frequency=5), data=(x, y)),
        HeadPruning(IterativePruning(0.25, 0.25, begin_step=3, frequency=5), data=(x, y)),
    ]


def state(model):
    return {
        "/".join(path) + "/" + variable.name: variable.numpy().copy()
        for path, _, layer in tree.walk(model)
        for variable in layer._trainable_variables + layer._non_trainable_variables
        if variable.name in ("kernel_mask", "unit_mask", "head_mask", "kernel")
    }


def test_resumed_fit_ends_with_the_same_masks_and_weights(tmp_path):
    crash_at = 9  # second step of the third epoch, after cuts at steps 6 and 8
    x, y = bert_inputs(batch=8), np.arange(8) % 3
    fit = dict(batch_size=2, epochs=3, shuffle=False, verbose=0)  # 4 steps an epoch

    reference = fresh_model()
    reference.fit(x, y, callbacks=callbacks(x, y), **fit)
    expected = state(reference)

    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    crashed = fresh_model()
    with pytest.raises(RuntimeError, match="injected crash"):
        crashed.fit(x, y, callbacks=[backup, *callbacks(x, y), Crash(crash_at)], **fit)

    resumed = fresh_model()  # a new process would rebuild the model like this
    history = resumed.fit(x, y, callbacks=[backup, *callbacks(x, y)], **fit)
    assert history.epoch == [2]  # it resumed after the last saved epoch
    actual = state(resumed)
    assert actual.keys() == expected.keys()
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], atol=1e-6, err_msg=key)
    heads = [layer.head_mask.numpy() for _, _, layer in tree.walk(resumed)
             if isinstance(layer, PrunableAttention)]
    assert sum(m.sum() for m in heads) == 3  # the schedules did run
    assert 0 < np.mean(actual[next(k for k in actual if k.endswith("query/kernel_mask"))]) < 1


def all_state(model):
    return {
        "/".join(path) + "/" + variable.name: keras.ops.convert_to_numpy(variable).copy()
        for path, _, layer in tree.walk(model)
        for variable in layer._trainable_variables + layer._non_trainable_variables
    }


def assert_same_state(actual, expected):
    assert actual.keys() == expected.keys()
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], atol=1e-6, err_msg=key)


def test_fit_resumed_mid_qat_ends_with_the_same_ranges_and_switches(tmp_path):
    from keras_compress.callbacks import QATToggle
    from keras_compress.layers import QATLayer

    # 4 steps an epoch: quantized from step 4 (epoch 1), ranges frozen from step 9;
    # the crash comes after step 9's batch, the backup holds the end of epoch 1
    # (step 8), so the resumed fit must still freeze at step 9.
    x, y = bert_inputs(batch=8), np.arange(8) % 3
    fit = dict(batch_size=2, epochs=3, shuffle=False, verbose=0)

    def toggle():
        return QATToggle(start_epoch=1, freeze_ranges_after=5)

    reference = fresh_model("qat")
    reference_toggle = toggle()
    reference.fit(x, y, callbacks=[reference_toggle], **fit)
    assert (reference_toggle.started_at, reference_toggle.frozen_at) == (4, 9)
    expected = all_state(reference)

    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    crashed = fresh_model("qat")
    with pytest.raises(RuntimeError, match="injected crash"):
        crashed.fit(x, y, callbacks=[backup, toggle(), Crash(9)], **fit)

    resumed = fresh_model("qat")
    resumed_toggle = toggle()
    history = resumed.fit(x, y, callbacks=[backup, resumed_toggle], **fit)
    assert history.epoch == [2]
    assert resumed_toggle.frozen_at == 9
    assert_same_state(all_state(resumed), expected)
    layers = [layer for _, _, layer in tree.walk(resumed) if isinstance(layer, QATLayer)]
    assert layers and all(layer.quantization_on for layer in layers)


def test_fit_resumed_mid_clustering_keeps_the_codebooks(tmp_path):
    from keras_compress.callbacks import WeightClustering
    from keras_compress.layers.clustered import ClusteredLayer

    x, y = bert_inputs(batch=8), np.arange(8) % 3
    fit = dict(batch_size=2, epochs=3, shuffle=False, verbose=0)

    def clustering():
        return WeightClustering(n_clusters=4, start_epoch=1, seed=3)

    reference = fresh_model(None)
    reference.fit(x, y, callbacks=[clustering()], **fit)
    expected = all_state(reference)

    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    crashed = fresh_model(None)
    with pytest.raises(RuntimeError, match="injected crash"):
        crashed.fit(x, y, callbacks=[backup, clustering(), Crash(9)], **fit)

    # Clustering swapped layers at epoch 1, before the last backup: the rebuilt
    # model is clustered the same way before the backup's weights are loaded.
    resumed = fresh_model(None)
    assert clustering().apply(resumed) is resumed
    history = resumed.fit(x, y, callbacks=[backup, clustering()], **fit)
    assert history.epoch == [2]
    assert_same_state(all_state(resumed), expected)
    clustered = [layer for _, _, layer in tree.walk(resumed) if isinstance(layer, ClusteredLayer)]
    assert len(clustered) == 13  # q, k, v, output, 2 FFN per layer, pooler
