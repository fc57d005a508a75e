"""`strip` and `to_tflite` on subclassed keras.Models (no config round trip)."""

import keras
import numpy as np
import pytest

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
    # to_tflite takes the subclassed model itself (pruned or stripped): it exports a
    # functional view with named inputs and the same weights, and leaves the model alone.
    for source, name in ((model, "pruned.tflite"), (stripped, "stripped.tflite")):
        report = to_tflite(source, tmp_path / name, ExportConfig(sequence_lengths=8),
                           label_names=["a", "b", "c"], verbose=False)
        assert report.parity["samples"] > 0 and report.parity["label_agreement"] == 1.0
    assert report.params == stripped.count_params()
    assert isinstance(model.up, MaskedDense)  # the user's model is not swapped back
    from keras_compress.export import TFLiteClassifier

    lite = TFLiteClassifier(tmp_path / "pruned.tflite")
    np.testing.assert_allclose(lite.outputs({k: v.astype("int32") for k, v in x.items()}),
                               expected, atol=1e-4)


def test_a_subclassed_model_never_called_is_refused_by_to_tflite(tmp_path):
    model = families.SubclassedClassifier()
    with pytest.raises(ValueError, match="no defined inputs"):
        to_tflite(model, tmp_path / "m.tflite", ExportConfig(sequence_lengths=8))
    assert not list(tmp_path.iterdir())


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


def test_a_swapped_registered_subclass_saves_and_loads_with_its_masks(tmp_path):
    @keras.saving.register_keras_serializable(package="subclassed_test")
    class RegisteredWithNames(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = keras.layers.Dense(8, activation="relu", name="hidden")
            self.out = keras.layers.Dense(2, name="out")

        def call(self, x):
            return self.out(self.hidden(x))

    model = RegisteredWithNames()
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    model(x)
    keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense}, include_classifier=True)
    model.hidden.kernel_mask.assign(np.ones((5, 8), "float32") * (np.arange(8) % 2))
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.hidden) is MaskedDense
    np.testing.assert_array_equal(loaded.hidden.kernel_mask.numpy(),
                                  model.hidden.kernel_mask.numpy())
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-6)
