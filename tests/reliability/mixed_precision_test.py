"""Swapping, pruning and stripping under Keras mixed-precision policies."""

import keras
import keras_hub
import numpy as np
import pytest

import keras_compress
from keras_compress.callbacks import HeadPruning, MagnitudePruning
from keras_compress.layers import MaskedDense, MaskedEinsumDense, PrunableAttention, QuantizedDense
from keras_compress.pruning import ConstantSparsity
from tests.conftest import bert_inputs


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_bert_swaps_prunes_and_strips(policy):
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=16, dtype=policy,
    )
    model = keras_hub.models.BertTextClassifier(backbone, num_classes=3, preprocessor=None,
                                                dtype=policy)
    x, y = bert_inputs(), np.array([0, 1, 2, 0])
    expected = model.predict(x, verbose=0)
    keras_compress.swap_layers(model, {
        keras.layers.MultiHeadAttention: PrunableAttention,
        keras.layers.EinsumDense: MaskedEinsumDense,
        keras.layers.Dense: MaskedDense,
    })
    ffn = model.backbone.transformer_layers[0]._feedforward_intermediate_dense
    assert ffn.dtype_policy.name == policy
    assert ffn.kernel.dtype == "float32" and ffn.kernel_mask.dtype == "float32"
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)

    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[
        MagnitudePruning(ConstantSparsity(0.5, 0, frequency=1)),
        HeadPruning(ConstantSparsity(0.25, 0, frequency=1), data=(x, y)),
    ])
    assert history.history["sparsity"][-1] == pytest.approx(0.5, abs=0.005)
    assert history.history["heads_kept"][-1] == 3
    assert np.all(np.isfinite(history.history["loss"]))
    stripped = keras_compress.strip(model)
    np.testing.assert_array_equal(stripped.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_quantized_dense_computes_in_the_policy_dtype(policy):
    layer = QuantizedDense(3, dtype=policy)
    layer.build((None, 4))
    layer(np.random.default_rng(0).normal(size=(8, 4)).astype("float32"), training=True)
    layer.enable_quantization(True)
    y = layer(np.ones((2, 4), "float32"))
    assert keras.backend.standardize_dtype(y.dtype) == policy.split("_")[1]
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(keras.ops.cast(y, "float32"))))
