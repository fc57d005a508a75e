import keras
import numpy as np
import pytest

from keras_compress.layers import MaskedDense


def built(units=6, input_dim=5, **kwargs):
    layer = MaskedDense(units, **kwargs)
    layer.build((None, input_dim))
    return layer


def test_forward_matches_numpy_with_masks():
    rng = np.random.default_rng(0)
    layer = built(activation="relu")
    kernel_mask = (rng.random((5, 6)) > 0.5).astype("float32")
    unit_mask = np.array([1, 0, 1, 1, 0, 1], "float32")
    layer.bias.assign(rng.normal(size=6).astype("float32"))
    layer.kernel_mask.assign(kernel_mask)
    layer.unit_mask.assign(unit_mask)
    x = rng.normal(size=(3, 5)).astype("float32")

    kernel = keras.ops.convert_to_numpy(layer.kernel)
    bias = keras.ops.convert_to_numpy(layer.bias)
    expected = np.maximum(x @ (kernel * kernel_mask) + bias, 0) * unit_mask
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, atol=1e-6)
    assert np.all(keras.ops.convert_to_numpy(layer(x))[:, [1, 4]] == 0)


def test_masked_weights_stay_zero_through_adam_steps():
    """Adam moments built before pruning must not move pruned weights."""
    rng = np.random.default_rng(1)
    model = keras.Sequential([keras.Input((5,)), MaskedDense(6, name="masked")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    x = rng.normal(size=(32, 5)).astype("float32")
    y = rng.normal(size=(32, 6)).astype("float32")
    model.fit(x, y, epochs=3, verbose=0)  # Adam moments are now non-zero

    layer = model.get_layer("masked")
    kernel_mask = (rng.random((5, 6)) > 0.5).astype("float32")
    unit_mask = np.array([1, 1, 0, 1, 1, 1], "float32")
    layer.kernel_mask.assign(kernel_mask)
    layer.unit_mask.assign(unit_mask)
    before = keras.ops.convert_to_numpy(layer.kernel).copy()
    model.fit(x, y, epochs=20, batch_size=32, verbose=0)  # 20 steps

    after = keras.ops.convert_to_numpy(layer.kernel)
    pruned = (kernel_mask * unit_mask) == 0
    assert np.all(after[pruned] == 0.0)
    assert np.all(keras.ops.convert_to_numpy(layer.bias)[2] == 0.0)
    assert np.abs(after[~pruned] - before[~pruned]).min() > 0  # the rest trains


def test_config_round_trip():
    layer = MaskedDense(4, activation="gelu", use_bias=False, name="m")
    clone = MaskedDense.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_keras_file_round_trip_keeps_masks(tmp_path):
    model = keras.Sequential([keras.Input((5,)), MaskedDense(4, name="masked")])
    layer = model.get_layer("masked")
    layer.kernel_mask.assign((np.arange(20).reshape(5, 4) % 3 != 0).astype("float32"))
    layer.unit_mask.assign([1.0, 0.0, 1.0, 1.0])
    x = np.random.default_rng(0).normal(size=(2, 5)).astype("float32")
    path = tmp_path / "masked.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(
        loaded.get_layer("masked").kernel_mask.numpy(), layer.kernel_mask.numpy()
    )
    np.testing.assert_array_equal(loaded.get_layer("masked").unit_mask.numpy(), [1, 0, 1, 1])


def test_from_layer_copies_weights_and_to_plain_bakes_masks():
    dense = keras.layers.Dense(4, activation="tanh")
    dense.build((None, 3))
    layer = MaskedDense.from_layer(dense)
    x = np.random.default_rng(0).normal(size=(2, 3)).astype("float32")
    np.testing.assert_array_equal(layer(x), dense(x))

    layer.kernel_mask.assign(np.eye(3, 4, dtype="float32"))
    layer.unit_mask.assign([1.0, 1.0, 0.0, 1.0])
    plain = layer.to_plain()
    assert type(plain) is keras.layers.Dense
    np.testing.assert_allclose(plain(x), layer(x), atol=1e-6)


def test_to_plain_refuses_neuron_mask_with_activation_nonzero_at_zero():
    layer = built(activation="sigmoid")
    layer.unit_mask.assign([1.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="sigmoid"):
        layer.to_plain()


def test_from_layer_rejects_other_layers_and_unbuilt_dense():
    with pytest.raises(TypeError, match="expected one of: Dense"):
        MaskedDense.from_layer(keras.layers.LayerNormalization())
    with pytest.raises(ValueError, match="not built"):
        MaskedDense.from_layer(keras.layers.Dense(3))


def test_keras_quantize_is_refused_with_a_hint():
    with pytest.raises(NotImplementedError, match="strip"):
        built().quantize("int8")
