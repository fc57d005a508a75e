"""A QAT model converts to int8 TFLite kernels from its learned ranges, with no calibration data.

These tests convert with TensorFlow's converter directly, the route that
`to_tflite(model, path, "int8")` takes without representative data (tested in
tests/export/tflite_test.py): the QAT layers stay in the graph,
`Optimize.DEFAULT`, no representative dataset.
"""

import collections
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_compress
from keras_compress.layers import QuantizedDense, QuantizedEinsumDense, QuantizedEmbedding
from keras_compress.quantization import qat_ranges
from tests.conftest import bert_inputs

LENGTH = 8


def qat_bert(bert_classifier, granularity):
    keras_compress.swap_layers(bert_classifier, {
        keras.layers.Embedding: QuantizedEmbedding,
        keras.layers.EinsumDense: lambda layer: QuantizedEinsumDense.from_layer(
            layer, weight_granularity=granularity),
        keras.layers.Dense: lambda layer: QuantizedDense.from_layer(
            layer, weight_granularity=granularity),
    }, include_embeddings=True, exclude="position_embedding")
    for seed in range(3):  # track activation ranges as training would
        bert_classifier(bert_inputs(batch=8, length=LENGTH, seed=seed), training=True)
    for ranges_layer in _qat_layers(bert_classifier):
        ranges_layer.enable_quantization(True)
    return bert_classifier


def _qat_layers(model):
    from keras_compress.layers import FakeQuantSwitch
    from keras_compress.surgery import tree

    return [layer for _, _, layer in tree.walk(model) if isinstance(layer, FakeQuantSwitch)]


def convert(model):
    """SavedModel (the variables the signature captures) -> TFLite with Optimize.DEFAULT."""
    specs = {name: tf.TensorSpec((1, LENGTH), tf.int32, name=name)
             for name in ("token_ids", "segment_ids", "padding_mask")}
    function = tf.function(lambda inputs: {"logits": model(inputs, training=False)},
                           input_signature=[specs]).get_concrete_function()
    module = tf.Module()
    module.captured = list(function.variables)
    with tempfile.TemporaryDirectory() as directory:
        tf.saved_model.save(module, directory, signatures={"serving_default": function})
        converter = tf.lite.TFLiteConverter.from_saved_model(directory)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return converter.convert()


def test_per_tensor_qat_bert_gets_int8_kernels_with_the_learned_output_ranges(bert_classifier):
    from ai_edge_litert.interpreter import Interpreter

    model = qat_bert(bert_classifier, "per_tensor")
    interpreter = Interpreter(model_content=convert(model))
    interpreter.allocate_tensors()
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()
    int8_kernels = [op for op in ops if op["op_name"] == "FULLY_CONNECTED"
                    and tensors[op["inputs"][1]]["dtype"] == np.int8]
    # 2 layers x (query, key, value, attention output, 2 feed-forward) + pooler;
    # the classifier head was not swapped and stays float.
    assert len(int8_kernels) == 13
    assert collections.Counter(op["op_name"] for op in ops)["FULLY_CONNECTED"] == 14

    # The int8 output scales are the ranges the layers learned, not calibrated ones.
    # (For a layer with an activation, the kernel's output is the pre-activation.)
    # The token table (QuantizedEmbedding, weight-only) is an int8 GATHER table.
    gathers = [tensors[op["inputs"][0]] for op in ops if op["op_name"] == "GATHER"]
    assert (np.int8, (100, 16)) in [(t["dtype"], tuple(t["shape"])) for t in gathers]

    learned = sorted((hi - lo) / 255 for r in qat_ranges(model).values()
                     for lo, hi in [r.get("preactivation", r["output"])])
    converted = sorted(tensors[op["outputs"][0]]["quantization"][0] for op in int8_kernels)
    np.testing.assert_allclose(converted, learned, rtol=1e-5)

    x = bert_inputs(batch=1, length=LENGTH, seed=7)
    runner = interpreter.get_signature_runner()
    lite = runner(**{name: value.astype("int32") for name, value in x.items()})["logits"]
    keras_logits = keras.ops.convert_to_numpy(model(x, training=False))
    # Close, not equal: the converter also runs ops in int8 that QAT does not
    # simulate (the attention's batched matmuls next to quantized inputs).
    scale = np.abs(keras_logits).max()
    assert np.abs(lite - keras_logits).max() <= 0.1 * scale


def test_per_channel_weight_fake_quant_does_not_convert(bert_classifier):
    # Why per-tensor is the default: this is the converter error to watch for.
    model = qat_bert(bert_classifier, "per_channel")
    with pytest.raises(Exception, match="mismatched quantized axes|neither a custom op"):
        convert(model)
