"""Layers and pruning callbacks under tf.distribute.MirroredStrategy on 2 logical CPUs.

Runs in a subprocess: logical devices must be configured before TensorFlow starts.
"""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, keras_hub, keras_compress
    from keras_compress.callbacks import HeadPruning, MagnitudePruning
    from keras_compress.layers import (MaskedDense, MaskedEinsumDense, PrunableAttention,
                                       QuantizedDense)
    from keras_compress.pruning import ConstantSparsity
    from keras_compress.surgery import tree

    strategy = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])
    assert strategy.num_replicas_in_sync == 2
    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(1, 100, (16, 8)).astype("int32"),
         "segment_ids": np.zeros((16, 8), "int32"), "padding_mask": np.ones((16, 8), "int32")}
    y = rng.integers(0, 3, 16)
    with strategy.scope():
        keras.utils.set_random_seed(0)
        backbone = keras_hub.models.BertBackbone(vocabulary_size=100, num_layers=2,
            num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=16)
        model = keras_hub.models.BertTextClassifier(backbone, num_classes=3, preprocessor=None)
        keras_compress.swap_layers(model, {
            keras.layers.MultiHeadAttention: PrunableAttention,
            keras.layers.EinsumDense: MaskedEinsumDense,
        })
        keras_compress.swap_layers(model, {keras.layers.Dense: QuantizedDense},
                                   include="feedforward_output")
        keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense})
        model.compile(optimizer="adam",
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    for _, _, layer in tree.walk(model):
        if isinstance(layer, QuantizedDense):
            layer.enable_quantization(True)
    callbacks = [MagnitudePruning(ConstantSparsity(0.5, 0, frequency=2)),
                 HeadPruning(ConstantSparsity(0.25, 1, frequency=100), data=(x, y))]
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=callbacks)
    assert abs(history.history["sparsity"][-1] - 0.5) < 0.005, history.history
    assert history.history["heads_kept"][-1] == 3, history.history
    checked = 0
    for _, _, layer in tree.walk(model):
        for v in layer._trainable_variables + layer._non_trainable_variables:
            if v.name in ("kernel_mask", "unit_mask", "head_mask", "kernel", "input_max"):
                values = [np.asarray(r) for r in v.value.values]
                assert len(values) == 2, v.path
                np.testing.assert_array_equal(values[0], values[1], err_msg=v.path)
                checked += 1
    assert checked > 20, checked
    stripped = keras_compress.strip(model)
    np.testing.assert_allclose(stripped.predict(x, verbose=0)[:2],
                               model.predict(x, verbose=0)[:2], atol=5e-2)
    print("mirrored ok", checked)
    """
)


def test_mirrored_strategy_two_replicas_keep_identical_masks(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=tmp_path, timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "mirrored ok" in result.stdout
