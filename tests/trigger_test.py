"""`Trigger`: one way to say when QATToggle and WeightClustering start."""

import keras
import numpy as np
import pytest

from keras_compress.callbacks import QATToggle, Trigger, WeightClustering
from keras_compress.layers import QuantizedDense
from keras_compress.surgery.swap import swap_layers


def _model(quantized):
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), keras.layers.Dense(1)])
    if quantized:
        swap_layers(model, {keras.layers.Dense: QuantizedDense})
    model.compile("sgd", "mse")
    return model


@pytest.mark.parametrize("make, attribute", [
    (lambda t: QATToggle(trigger=t), "started_at"),
    (lambda t: WeightClustering(n_clusters=4, trigger=t), "clustered_at"),
])
@pytest.mark.parametrize("trigger, expected", [
    (Trigger(start_step=3), 3),
    (Trigger(start_epoch=1), 4),
])
def test_same_trigger_same_start_in_both_callbacks(make, attribute, trigger, expected):
    callback = make(trigger)
    model = _model(quantized=isinstance(callback, QATToggle))
    model.fit(np.ones((8, 8)), np.ones((8, 1)), batch_size=2, epochs=2, callbacks=[callback],
              verbose=0)
    assert getattr(callback, attribute) == expected


def test_shortcuts_build_the_same_trigger():
    assert QATToggle(start_epoch=2).trigger == Trigger(start_epoch=2)
    assert WeightClustering(start_step=5).trigger == Trigger(start_step=5)
    assert WeightClustering().trigger == Trigger(start_epoch=0)


@pytest.mark.parametrize("kwargs, message", [
    ({"trigger": Trigger(start_step=1), "start_step": 1}, "not both"),
    ({"trigger": 3}, "`trigger` must be"),
])
def test_bad_trigger_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        QATToggle(**kwargs)
    with pytest.raises(ValueError, match=message):
        WeightClustering(**kwargs)


@pytest.mark.parametrize("kwargs", [{}, {"start_step": 1, "start_epoch": 1}, {"start_step": -1}])
def test_trigger_needs_exactly_one_non_negative_start(kwargs):
    with pytest.raises(ValueError, match="start_"):
        Trigger(**kwargs)
