"""`QuantizedEmbedding`: int8 weight-only fake quantization of an embedding table."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import keras_compress
from keras_compress.callbacks import QATToggle
from keras_compress.layers import QuantizedDense, QuantizedEinsumDense, QuantizedEmbedding
from tests.conftest import bert_inputs


def numpy_per_tensor_int8(table):
    bound = np.abs(table).max()
    scale = 2 * bound / 254
    return np.clip(np.floor(table / scale + 0.5), -127, 127) * scale


def token_table(seed=0):
    keras.utils.set_random_seed(seed)
    table = keras_hub.layers.ReversibleEmbedding(60, 8)
    table.build((None,))
    return table


def test_lookup_matches_numpy_and_reverse_uses_the_same_table():
    source = token_table()
    layer = QuantizedEmbedding.from_layer(source)
    ids = np.array([[0, 5, 59]])
    table = source.embeddings.numpy()
    np.testing.assert_array_equal(layer(ids), table[ids])  # off: the float table
    layer.enable_quantization(True)
    expected = numpy_per_tensor_int8(table)
    np.testing.assert_allclose(layer(ids), expected[ids], atol=1e-6)
    assert len(np.unique(keras.ops.convert_to_numpy(layer.embeddings))) <= 255
    hidden = np.random.default_rng(0).normal(size=(2, 8)).astype("float32")
    np.testing.assert_allclose(layer(hidden, reverse=True), hidden @ expected.T, atol=1e-5)


def test_straight_through_gradient_reaches_the_looked_up_rows():
    layer = QuantizedEmbedding.from_layer(token_table())
    layer.enable_quantization(True)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(np.array([[3, 3, 7]])) * 2.0)
    grad = tf.convert_to_tensor(tape.gradient(loss, layer.table)).numpy()
    expected = np.zeros((60, 8), "float32")
    expected[3], expected[7] = 4.0, 2.0
    np.testing.assert_allclose(grad, expected)


def test_toggled_with_the_other_qat_layers_saved_and_stripped(bert_classifier, tmp_path):
    token_class = type(bert_classifier.backbone.token_embedding)
    keras_compress.swap_layers(bert_classifier, {
        keras.layers.Embedding: QuantizedEmbedding,
        keras.layers.EinsumDense: QuantizedEinsumDense,
        keras.layers.Dense: QuantizedDense,
    }, include=lambda layer, path: not path.endswith(("position_embedding", "segment_embedding")),
        include_embeddings=True)
    token = bert_classifier.backbone.token_embedding
    assert type(token) is QuantizedEmbedding
    assert type(bert_classifier.backbone.segment_embedding) is keras.layers.Embedding
    bert_classifier.compile(optimizer="adam",
                            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = bert_inputs(batch=8)
    toggle = QATToggle(start_step=1, freeze_ranges_after=0)
    history = bert_classifier.fit(x, np.zeros(8, "int32"), batch_size=4, verbose=0,
                                  callbacks=[toggle])
    assert token.quantization_on and history.history["quantized"] == [1.0]
    assert history.history["ranges_frozen"] == [1.0]
    bert_classifier.save(tmp_path / "q.keras")
    loaded = keras.saving.load_model(tmp_path / "q.keras")
    assert loaded.backbone.token_embedding.quantization_on
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), bert_classifier.predict(x, verbose=0))
    plain = keras_compress.strip(bert_classifier).backbone.token_embedding
    assert type(plain) is token_class  # the replaced layer's class comes back
    np.testing.assert_allclose(plain.embeddings.numpy(),
                               numpy_per_tensor_int8(token.table.numpy()), atol=1e-6)


def test_unsupported_sources_are_named():
    with pytest.raises(ValueError, match="untied reverse projection"):
        table = keras_hub.layers.ReversibleEmbedding(60, 8, tie_weights=False)
        table.build((None,))
        QuantizedEmbedding.from_layer(table)
    with pytest.raises(TypeError, match="expected one of: Embedding"):
        dense = keras.layers.Dense(2)
        dense.build((None, 3))
        QuantizedEmbedding.from_layer(dense)
