"""Fake quantization vs NumPy, straight-through gradients, and `QuantizedEinsumDense`."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_compress
from keras_compress.layers import QuantizedDense, QuantizedEinsumDense
from keras_compress.quantization import fake_quant_activations, fake_quant_weights
from tests.conftest import bert_inputs


def numpy_fake_quant(x, lo, hi, num_bits=8, narrow_range=False):
    """TensorFlow's fake_quant_with_min_max_vars, written out (nudged zero point)."""
    qmin, qmax = (1 if narrow_range else 0), 2**num_bits - 1
    scale = (hi - lo) / (qmax - qmin)
    zero_point = np.clip(np.round(qmin - lo / scale), qmin, qmax)
    nudged_lo, nudged_hi = (qmin - zero_point) * scale, (qmax - zero_point) * scale
    clamped = np.clip(x, nudged_lo, nudged_hi)
    return np.floor((clamped - nudged_lo) / scale + 0.5) * scale + nudged_lo


def test_per_channel_weights_over_several_output_axes_match_numpy():
    kernel = np.random.default_rng(0).normal(size=(6, 2, 3)).astype("float32")
    got = keras.ops.convert_to_numpy(fake_quant_weights(kernel, "per_channel", channel_axes=(1, 2)))
    bound = np.abs(kernel).max(axis=0)  # one range per (head, head_dim) pair
    np.testing.assert_allclose(got, numpy_fake_quant(kernel, -bound, bound, narrow_range=True),
                               atol=1e-6)
    # Per channel differs from per tensor on a kernel whose channels differ in scale.
    kernel[:, 0, 0] *= 100
    per_tensor = keras.ops.convert_to_numpy(fake_quant_weights(kernel, "per_tensor"))
    per_channel = keras.ops.convert_to_numpy(
        fake_quant_weights(kernel, "per_channel", channel_axes=(1, 2)))
    small = (slice(None), 1, 1)
    assert np.abs(per_channel[small] - kernel[small]).max() < np.abs(
        per_tensor[small] - kernel[small]).max()


def test_per_tensor_weights_use_at_most_255_levels():
    kernel = np.random.default_rng(1).normal(size=(64, 64)).astype("float32")
    quantized = keras.ops.convert_to_numpy(fake_quant_weights(kernel, "per_tensor"))
    bound = np.abs(kernel).max()
    np.testing.assert_allclose(quantized, numpy_fake_quant(kernel, -bound, bound, narrow_range=True),
                               atol=1e-6)
    assert len(np.unique(quantized)) <= 255
    assert np.abs(quantized - kernel).max() <= bound / 127 / 2 + 1e-6


def test_straight_through_gradients():
    w = tf.Variable(np.random.default_rng(2).normal(size=(5, 4)).astype("float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(fake_quant_weights(w, "per_tensor") * 3.0)
    np.testing.assert_allclose(tape.gradient(loss, w).numpy(), np.full((5, 4), 3.0))
    x = tf.Variable(np.array([-2.0, -0.5, 0.0, 0.7, 3.0], "float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(fake_quant_activations(x, -1.0, 1.0))
    # Inside the range the gradient passes; outside (clipped) it is zero.
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), [0.0, 1.0, 1.0, 1.0, 0.0])


def einsum_layer(granularity="per_tensor"):
    rng = np.random.default_rng(3)
    layer = QuantizedEinsumDense("abc,cde->abde", output_shape=(None, 2, 4), bias_axes="de",
                                 weight_granularity=granularity)
    layer.build((None, 5, 6))
    layer.bias.assign(rng.normal(size=(2, 4)).astype("float32"))
    layer.input_min.assign(-1.5)
    layer.input_max.assign(2.0)
    layer.output_min.assign(-3.0)
    layer.output_max.assign(4.0)
    return layer


@pytest.mark.parametrize("granularity", ["per_tensor", "per_channel"])
def test_quantized_einsum_forward_matches_numpy(granularity):
    layer = einsum_layer(granularity)
    x = np.random.default_rng(4).normal(size=(3, 5, 6)).astype("float32")
    kernel = layer.kernel.numpy()
    np.testing.assert_allclose(  # off: an ordinary EinsumDense
        layer(x), np.einsum("abc,cde->abde", x, kernel) + layer.bias.numpy(), atol=1e-5)
    layer.enable_quantization(True)
    bound = np.abs(kernel).max() if granularity == "per_tensor" else np.abs(kernel).max(axis=0)
    kernel_q = numpy_fake_quant(kernel, -bound, bound, narrow_range=True)
    x_q = numpy_fake_quant(x, -1.5, 2.0)
    expected = numpy_fake_quant(
        np.einsum("abc,cde->abde", x_q, kernel_q) + layer.bias.numpy(), -3.0, 4.0)
    np.testing.assert_allclose(layer(x), expected, atol=1e-5)


def test_quantized_einsum_straight_through_gradient():
    layer = einsum_layer()
    layer.output_min.assign(-100.0)
    layer.output_max.assign(100.0)
    layer.enable_quantization(True)
    x = np.random.default_rng(5).uniform(-1.0, 1.0, size=(3, 5, 6)).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x))
    grad = tape.gradient(loss, layer._kernel)
    x_q = numpy_fake_quant(x, -1.5, 2.0)
    expected = np.einsum("abc,abde->cde", x_q, np.ones((3, 5, 2, 4), "float32"))
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_frozen_ranges_stop_moving_without_retracing():
    layer = QuantizedEinsumDense("abc,cd->abd", output_shape=(None, 3), range_momentum=0.5)
    layer.build((None, 4, 2))
    traces = []

    @tf.function
    def train_call(x):
        traces.append(1)
        return layer(x, training=True)

    train_call(np.full((1, 4, 2), -1.0, "float32"))
    train_call(np.full((1, 4, 2), 3.0, "float32"))
    moved = float(layer.input_max.numpy())
    assert moved == pytest.approx(0.5 * -1.0 + 0.5 * 3.0)
    layer.freeze_ranges(True)
    train_call(np.full((1, 4, 2), 50.0, "float32"))
    assert float(layer.input_max.numpy()) == moved
    layer.freeze_ranges(False)
    train_call(np.full((1, 4, 2), 50.0, "float32"))
    assert float(layer.input_max.numpy()) > moved
    assert len(traces) == 1


def test_swapped_bert_keeps_outputs_and_converts_back(bert_classifier, tmp_path):
    x = bert_inputs()
    expected = bert_classifier.predict(x, verbose=0)
    keras_compress.swap_layers(bert_classifier, {
        keras.layers.EinsumDense: QuantizedEinsumDense, keras.layers.Dense: QuantizedDense})
    encoder = bert_classifier.backbone.transformer_layers[0]
    assert type(encoder._self_attention_layer._query_dense) is QuantizedEinsumDense
    assert type(encoder._feedforward_intermediate_dense) is QuantizedDense
    np.testing.assert_allclose(bert_classifier.predict(x, verbose=0), expected, atol=1e-5)
    bert_classifier(x, training=True)  # track ranges
    query = encoder._self_attention_layer._query_dense
    query.enable_quantization(True)
    query.freeze_ranges(True)
    bert_classifier.save(tmp_path / "q.keras")
    loaded = keras.saving.load_model(tmp_path / "q.keras")
    loaded_query = loaded.backbone.transformer_layers[0]._self_attention_layer._query_dense
    assert loaded_query.ranges() == query.ranges()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), bert_classifier.predict(x, verbose=0))
    plain = query.to_plain()
    assert type(plain) is keras.layers.EinsumDense
    np.testing.assert_allclose(plain.kernel.numpy(), query.quantized_kernel.numpy())
    assert len(np.unique(plain.kernel.numpy())) <= 255


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="weight_granularity.*per_row"):
        QuantizedEinsumDense("ab,bc->ac", 3, weight_granularity="per_row")
    with pytest.raises(ValueError, match="range_momentum"):
        QuantizedEinsumDense("ab,bc->ac", 3, range_momentum=-0.1)
    with pytest.raises(ValueError, match="lora_rank"):
        QuantizedEinsumDense("ab,bc->ac", 3, lora_rank=2)
    with pytest.raises(TypeError, match="expected one of: EinsumDense"):
        dense = keras.layers.Dense(2)
        dense.build((None, 3))
        QuantizedEinsumDense.from_layer(dense)


def test_default_granularity_is_per_tensor():
    assert QuantizedDense(2).weight_granularity == "per_tensor"
    assert QuantizedEinsumDense("ab,bc->ac", 2).weight_granularity == "per_tensor"
