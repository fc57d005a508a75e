import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_compress.layers import PrunableAttention


def attention_and_input(num_heads=4, key_dim=8, seed=0):
    keras.utils.set_random_seed(seed)
    layer = keras.layers.MultiHeadAttention(num_heads, key_dim)
    x = np.random.default_rng(seed).normal(size=(2, 5, 32)).astype("float32")
    layer(x, x)
    return layer, x


def test_from_layer_output_equals_the_original():
    mha, x = attention_and_input()
    layer = PrunableAttention.from_layer(mha)
    np.testing.assert_allclose(layer(x, x), mha(x, x), atol=1e-6)
    np.testing.assert_array_equal(layer.head_mask.numpy(), np.ones(4))


def test_masked_head_equals_zeroed_value_projection():
    mha, x = attention_and_input()
    layer = PrunableAttention.from_layer(mha)
    layer.head_mask.assign([1.0, 0.0, 1.0, 1.0])
    kernel, bias = mha._value_dense.get_weights()
    kernel[:, 1, :] = 0.0
    bias[1, :] = 0.0
    mha._value_dense.set_weights([kernel, bias])
    np.testing.assert_allclose(layer(x, x), mha(x, x), atol=1e-5)


def test_gradient_with_respect_to_the_mask_scores_heads():
    mha, x = attention_and_input()
    layer = PrunableAttention.from_layer(mha)
    with tf.GradientTape() as tape:
        tape.watch(layer.head_mask.value)
        loss = tf.reduce_sum(layer(x, x) ** 2)
    grad = tape.gradient(loss, layer.head_mask.value)
    assert grad.shape == (4,)
    assert np.all(np.isfinite(grad.numpy())) and np.all(np.abs(grad.numpy()) > 0)


def test_to_plain_bakes_the_mask():
    mha, x = attention_and_input()
    layer = PrunableAttention.from_layer(mha)
    layer.head_mask.assign([0.0, 1.0, 1.0, 0.0])
    plain = layer.to_plain()
    assert type(plain) is keras.layers.MultiHeadAttention
    np.testing.assert_allclose(plain(x, x), layer(x, x), atol=1e-6)


def test_subclass_overriding_call_is_refused():
    class Cached(keras.layers.MultiHeadAttention):
        def call(self, query, value, key=None, cache=None, **kwargs):
            return super().call(query, value, key=key, **kwargs)

    layer = Cached(2, 4)
    x = np.zeros((1, 3, 8), "float32")
    layer(x, x)
    with pytest.raises(TypeError, match="overrides MultiHeadAttention.call"):
        PrunableAttention.from_layer(layer)


def test_save_and_load_keeps_the_mask(tmp_path):
    query = keras.Input((5, 32))
    layer = PrunableAttention(num_heads=4, key_dim=8, name="attention")
    model = keras.Model(query, layer(query, query))
    layer.head_mask.assign([1.0, 1.0, 0.0, 1.0])
    x = np.random.default_rng(0).normal(size=(2, 5, 32)).astype("float32")
    model.save(tmp_path / "a.keras")
    loaded = keras.saving.load_model(tmp_path / "a.keras")
    np.testing.assert_array_equal(loaded.get_layer("attention").head_mask.numpy(), [1, 1, 0, 1])
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
