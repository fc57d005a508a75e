"""`strip` and `to_tflite` on subclassed keras.Models (no config round trip)."""

import keras
import numpy as np

import keras_compress
from keras_compress.callbacks import NeuronPruning
from keras_compress.export import ExportConfig, to_tflite
from keras_compress.layers import CompressedLayer, MaskedDense
from keras_compress.pruning import ConstantSparsity
from keras_compress.surgery import tree
from tests import families


def pruned(model, x):
    keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense})
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    callback = NeuronPruning(ConstantSparsity(0.5, 0, frequency=100), importance="weight_norm",
                             pairs=[(model.up, model.down)])
    model.fit(x, np.arange(4) % 3, epochs=1, verbose=0, callbacks=[callback])
    return model


def test_strip_of_an_unregistered_subclassed_model(tmp_path):
    model, x = families.build("subclassed model")
    model = pruned(model, x)
    expected = model.predict(x, verbose=0)
    kernel = model.up.kernel.numpy()
    stripped = keras_compress.strip(model)
    assert isinstance(stripped, families.SubclassedClassifier)
    assert not any(isinstance(layer, CompressedLayer) for _, _, layer in tree.walk(stripped))
    assert stripped.up.kernel.shape == (12, 12) and stripped.down.kernel.shape == (12, 12)
    np.testing.assert_allclose(stripped.predict(x, verbose=0), expected, atol=1e-5)
    # The original is unchanged and shares nothing with the copy.
    assert isinstance(model.up, MaskedDense) and model.up.kernel.shape == (12, 24)
    np.testing.assert_array_equal(model.up.kernel.numpy(), kernel)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-6)
    # to_tflite reads named inputs from a functional graph: wrap the subclassed model.
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in x}
    wrapped = keras.Model(inputs, stripped(inputs))
    report = to_tflite(wrapped, tmp_path / "m.tflite", ExportConfig(sequence_lengths=8),
                       label_names=["a", "b", "c"])
    assert (tmp_path / "m.tflite").is_file() and report.parity["samples"] > 0


def test_strip_of_a_registered_subclass_with_auto_named_layers():
    @keras.saving.register_keras_serializable(package="subclassed_test")
    class Registered(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = keras.layers.Dense(8, activation="relu")
            self.out = keras.layers.Dense(2)

        def call(self, x):
            return self.out(self.hidden(x))

    keras.backend.clear_session()
    model = Registered()
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    model(x)
    expected = model.predict(x, verbose=0)
    keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense}, include_classifier=True)
    model.hidden.kernel_mask.assign(np.ones((5, 8), "float32") * (np.arange(8) % 2))
    expected = model.predict(x, verbose=0)
    stripped = keras_compress.strip(model)
    assert type(stripped.hidden) is keras.layers.Dense
    np.testing.assert_allclose(stripped.predict(x, verbose=0), expected, atol=1e-6)
    assert isinstance(model.hidden, MaskedDense)
