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


def fresh_model():
    import keras_hub

    keras.backend.clear_session()
    keras.utils.set_random_seed(7)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=16, dropout=0.0,
    )
    model = keras_hub.models.BertTextClassifier(backbone, num_classes=3, preprocessor=None,
                                                dropout=0.0)
    keras_compress.swap_layers(model, {
        keras.layers.MultiHeadAttention: PrunableAttention,
        keras.layers.EinsumDense: MaskedEinsumDense,
        keras.layers.Dense: MaskedDense,
    })
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
