import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_compress.layers import QuantizedDense


def numpy_fake_quant(x, lo, hi, num_bits=8, narrow_range=False):
    """TensorFlow's fake_quant_with_min_max_vars, written out (nudged zero point)."""
    qmin, qmax = (1 if narrow_range else 0), 2**num_bits - 1
    scale = (hi - lo) / (qmax - qmin)
    zero_point = np.clip(np.round(qmin - lo / scale), qmin, qmax)
    nudged_lo, nudged_hi = (qmin - zero_point) * scale, (qmax - zero_point) * scale
    clamped = np.clip(x, nudged_lo, nudged_hi)
    return np.floor((clamped - nudged_lo) / scale + 0.5) * scale + nudged_lo


def layer_with_ranges(granularity="per_channel", seed=0):
    rng = np.random.default_rng(seed)
    layer = QuantizedDense(4, weight_granularity=granularity)
    layer.build((None, 6))
    layer.bias.assign(rng.normal(size=4).astype("float32"))
    layer.input_min.assign(-1.5)
    layer.input_max.assign(2.0)
    layer.output_min.assign(-3.0)
    layer.output_max.assign(4.0)
    return layer


@pytest.mark.parametrize("granularity", ["per_channel", "per_tensor"])
def test_fake_quant_forward_matches_numpy(granularity):
    layer = layer_with_ranges(granularity)
    layer.enable_quantization(True)
    x = np.random.default_rng(1).normal(size=(5, 6)).astype("float32")
    kernel = layer.kernel.numpy()
    bound = np.abs(kernel).max(axis=0) if granularity == "per_channel" else np.abs(kernel).max()
    kernel_q = numpy_fake_quant(kernel, -bound, bound, narrow_range=True)
    x_q = numpy_fake_quant(x, -1.5, 2.0)
    expected = numpy_fake_quant(x_q @ kernel_q + layer.bias.numpy(), -3.0, 4.0)
    np.testing.assert_allclose(layer(x), expected, atol=1e-5)
    # Per-channel int8 weights: at most 255 levels per output column.
    assert all(len(np.unique(col)) <= 255 for col in kernel_q.T)


def test_quantization_is_off_until_enabled():
    layer = layer_with_ranges()
    x = np.random.default_rng(1).normal(size=(5, 6)).astype("float32")
    expected = x @ layer.kernel.numpy() + layer.bias.numpy()
    np.testing.assert_allclose(layer(x), expected, atol=1e-6)


def test_straight_through_gradient():
    layer = layer_with_ranges()
    layer.output_min.assign(-100.0)
    layer.output_max.assign(100.0)
    layer.enable_quantization(True)
    x = np.random.default_rng(2).uniform(-1.0, 1.0, size=(5, 6)).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x))
    grad = tape.gradient(loss, layer.trainable_variables[0])
    x_q = numpy_fake_quant(x, -1.5, 2.0)
    np.testing.assert_allclose(grad.numpy(), x_q.T @ np.ones((5, 4)), rtol=1e-5, atol=1e-5)


def test_ranges_follow_a_moving_average():
    layer = QuantizedDense(3, range_momentum=0.9)
    layer.build((None, 2))
    a = np.array([[-1.0, 2.0]], "float32")
    b = np.array([[-3.0, 1.0]], "float32")
    layer(a, training=True)
    assert layer.input_min.numpy() == -1.0 and layer.input_max.numpy() == 2.0
    layer(b, training=True)
    np.testing.assert_allclose(layer.input_min.numpy(), 0.9 * -1.0 + 0.1 * -3.0, rtol=1e-6)
    np.testing.assert_allclose(layer.input_max.numpy(), 0.9 * 2.0 + 0.1 * 1.0, rtol=1e-6)
    layer(a)  # inference leaves the ranges alone
    np.testing.assert_allclose(layer.input_min.numpy(), -1.2, rtol=1e-6)


def test_toggle_takes_effect_without_retracing():
    layer = layer_with_ranges()
    traces = []

    @tf.function
    def run(x):
        traces.append(1)
        return layer(x)

    x = np.random.default_rng(3).normal(size=(5, 6)).astype("float32")
    float_out = run(x).numpy()
    layer.enable_quantization(True)
    quant_out = run(x).numpy()
    layer.enable_quantization(False)
    again = run(x).numpy()
    assert len(traces) == 1
    assert np.abs(quant_out - float_out).max() > 1e-3
    np.testing.assert_array_equal(again, float_out)


def test_state_survives_save_and_load(tmp_path):
    inputs = keras.Input((6,))
    layer = QuantizedDense(4, name="q")
    model = keras.Model(inputs, layer(inputs))
    x = np.random.default_rng(4).normal(size=(8, 6)).astype("float32")
    layer(x, training=True)
    layer.enable_quantization(True)
    model.save(tmp_path / "q.keras")
    loaded = keras.saving.load_model(tmp_path / "q.keras").get_layer("q")
    assert bool(loaded.quantization_enabled.numpy())
    for name in ("input_min", "input_max", "output_min", "output_max", "range_updates"):
        assert getattr(loaded, name).numpy() == getattr(layer, name).numpy()
    np.testing.assert_array_equal(loaded(x), layer(x))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="weight_granularity"):
        QuantizedDense(4, weight_granularity="per_row")
    with pytest.raises(ValueError, match="range_momentum"):
        QuantizedDense(4, range_momentum=1.0)


def test_to_plain_uses_the_quantized_kernel_when_enabled():
    layer = layer_with_ranges()
    layer.enable_quantization(True)
    plain = layer.to_plain()
    assert type(plain) is keras.layers.Dense
    np.testing.assert_allclose(plain.kernel.numpy(), layer.quantized_kernel.numpy())
    assert len(np.unique(plain.kernel.numpy()[:, 0])) <= 255
