"""`QATToggle`: quantization switched on at exactly the requested step, ranges frozen, saved."""

import keras
import numpy as np
import pytest

import keras_compress
from keras_compress.callbacks import QATToggle
from keras_compress.layers import QATLayer, QuantizedDense, QuantizedEinsumDense
from keras_compress.surgery import tree
from tests.conftest import bert_inputs

MAPPING = {keras.layers.EinsumDense: QuantizedEinsumDense, keras.layers.Dense: QuantizedDense}


def qat_model(learning_rate=0.0, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(hidden))
    keras_compress.swap_layers(model, {keras.layers.Dense: QuantizedDense}, include_classifier=True)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    return model


def data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)).astype("float32"), rng.normal(size=(n, 3)).astype("float32")


def qat_layers(model):
    return [layer for _, _, layer in tree.walk(model) if isinstance(layer, QATLayer)]


class StateRecorder(keras.callbacks.Callback):
    """Per batch: the switch and one tracked range, as the training step saw them."""

    def __init__(self):
        super().__init__()
        self.enabled, self.input_max = [], []

    def on_train_batch_end(self, batch, logs=None):
        layer = self.model.get_layer("hidden")
        self.enabled.append(bool(layer.quantization_enabled.numpy()))
        self.input_max.append(float(layer.input_max.numpy()))


def test_flips_at_exactly_the_requested_step():
    # One batch per epoch and a zero learning rate: epoch i's loss is the loss
    # of step i's forward pass with unchanged weights.
    model = qat_model()
    x, y = data()
    float_loss = float(model.evaluate(x, y, verbose=0))
    toggle = QATToggle(start_step=3)
    history = model.fit(x, y, batch_size=8, epochs=6, verbose=0, callbacks=[toggle])
    losses = history.history["loss"]
    np.testing.assert_allclose(losses[:3], float_loss, rtol=1e-6)
    assert all(abs(loss - float_loss) > 1e-4 for loss in losses[3:])
    assert toggle.started_at == 3
    assert history.history["quantized"] == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    for layer in qat_layers(model):
        layer.enable_quantization(False)
    assert float(model.evaluate(x, y, verbose=0)) == pytest.approx(float_loss, rel=1e-6)


def test_start_epoch_flips_at_the_first_batch_of_that_epoch():
    model = qat_model()
    x, y = data()
    recorder = StateRecorder()
    toggle = QATToggle(start_epoch=2)
    model.fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[toggle, recorder])
    assert recorder.enabled == [False] * 4 + [True] * 2
    assert toggle.started_at == 4


def test_ranges_freeze_after_the_given_steps():
    model = qat_model()
    x, y = data(n=16)
    x = x * np.repeat(np.arange(1, 9), 2)[:, None].astype("float32")  # ranges keep growing
    recorder = StateRecorder()
    toggle = QATToggle(start_step=2, freeze_ranges_after=3)
    history = model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0,
                        callbacks=[toggle, recorder])
    assert toggle.frozen_at == 5
    ranges = recorder.input_max
    assert all(b > a for a, b in zip(ranges[:5], ranges[1:5]))  # moving until step 4
    assert ranges[5:] == [ranges[4]] * 3  # frozen from step 5 on
    assert history.history["ranges_frozen"] == [1.0]


def test_state_survives_save_and_load_and_resumed_fit(tmp_path):
    model = qat_model(learning_rate=0.01)
    x, y = data()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0,
              callbacks=[QATToggle(start_step=1, freeze_ranges_after=1)])
    model.save(tmp_path / "qat.keras")
    loaded = keras.saving.load_model(tmp_path / "qat.keras")
    for old, new in zip(qat_layers(model), qat_layers(loaded)):
        assert new.ranges() == old.ranges()
        assert new.ranges()["enabled"] and new.ranges()["frozen"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # A resumed fit with a fresh callback keeps quantizing; frozen ranges stay put.
    before = loaded.get_layer("hidden").ranges()["input"]
    toggle = QATToggle(start_step=1, freeze_ranges_after=1)
    loaded.fit(x * 10, y, batch_size=4, epochs=1, verbose=0, callbacks=[toggle])
    assert toggle.started_at == 4 and toggle.frozen_at == 4
    assert loaded.get_layer("hidden").ranges()["input"] == before


def test_bert_attention_and_feedforward_are_quantized(bert_classifier):
    keras_compress.swap_layers(bert_classifier, MAPPING)
    bert_classifier.compile(optimizer="adam",
                            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = bert_inputs(batch=8)
    y = np.random.default_rng(0).integers(0, 3, 8)
    toggle = QATToggle(start_step=1)
    bert_classifier.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[toggle])
    rows = keras_compress.summary(bert_classifier, print_fn=lambda line: None)
    kinds = {row["type"] for row in rows}
    assert kinds == {"QuantizedDense", "QuantizedEinsumDense"}
    assert len(rows) == 2 * 6 + 1 and {row["clusters/bits"] for row in rows} == {"8"}
    ranges = keras_compress.quantization.qat_ranges(bert_classifier)
    query = ranges["bert_backbone/transformer_layer_0/self_attention_layer/query"]
    assert query["enabled"] and query["input"][0] < 0 < query["input"][1]


@pytest.mark.parametrize("kwargs, match", [
    ({}, "exactly one of `start_step` and `start_epoch`"),
    ({"start_step": 1, "start_epoch": 1}, "exactly one"),
    ({"start_step": -1}, "start_step"),
    ({"start_epoch": 1.5}, "start_epoch"),
    ({"start_step": 0, "freeze_ranges_after": "soon"}, "freeze_ranges_after"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        QATToggle(**kwargs)


def test_model_without_qat_layers_is_refused():
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    model.compile("sgd", "mse")
    x, y = data()
    with pytest.raises(ValueError, match="no QuantizedDense, QuantizedEinsumDense or QuantizedEmbedding"):
        model.fit(x, y, verbose=0, callbacks=[QATToggle(start_step=0)])
