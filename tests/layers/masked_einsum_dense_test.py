import keras
import numpy as np

from keras_compress.layers import MaskedEinsumDense


def test_forward_matches_numpy_einsum():
    rng = np.random.default_rng(0)
    layer = MaskedEinsumDense("abc,cde->abde", output_shape=(None, 2, 4), bias_axes="de")
    layer.build((None, 5, 8))
    layer.bias.assign(rng.normal(size=(2, 4)).astype("float32"))
    mask = (rng.random((8, 2, 4)) > 0.3).astype("float32")
    layer.kernel_mask.assign(mask)
    x = rng.normal(size=(3, 5, 8)).astype("float32")
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    expected = np.einsum("abc,cde->abde", x, kernel * mask) + layer.bias.numpy()
    np.testing.assert_allclose(layer(x), expected, atol=1e-5)


def test_masked_weights_stay_zero_while_training():
    rng = np.random.default_rng(1)
    inputs = keras.Input((5, 8))
    layer = MaskedEinsumDense("abc,cd->abd", output_shape=(None, 3), bias_axes="d", name="p")
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    x = rng.normal(size=(16, 5, 8)).astype("float32")
    y = rng.normal(size=(16, 5, 3)).astype("float32")
    model.fit(x, y, epochs=2, verbose=0)
    mask = (rng.random((8, 3)) > 0.5).astype("float32")
    layer.kernel_mask.assign(mask)
    model.fit(x, y, epochs=20, verbose=0)
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    assert np.all(kernel[mask == 0] == 0.0)
    assert np.all(kernel[mask == 1] != 0.0)


def test_keras_file_round_trip(tmp_path):
    inputs = keras.Input((5, 8))
    layer = MaskedEinsumDense("abc,cd->abd", output_shape=(None, 3), name="p")
    model = keras.Model(inputs, layer(inputs))
    layer.kernel_mask.assign(np.tril(np.ones((8, 3), "float32")))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    x = np.ones((1, 5, 8), "float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(loaded.get_layer("p").kernel_mask.numpy(), np.tril(np.ones((8, 3))))


def test_from_layer_and_to_plain():
    einsum = keras.layers.EinsumDense("ab,bc->ac", output_shape=4, bias_axes="c")
    einsum.build((None, 3))
    layer = MaskedEinsumDense.from_layer(einsum)
    x = np.random.default_rng(0).normal(size=(2, 3)).astype("float32")
    np.testing.assert_array_equal(layer(x), einsum(x))
    layer.kernel_mask.assign(np.eye(3, 4, dtype="float32"))
    plain = layer.to_plain()
    assert type(plain) is keras.layers.EinsumDense
    np.testing.assert_allclose(plain(x), layer(x), atol=1e-6)
