"""to_tflite and TFLiteClassifier on small random BERTs (fast)."""

import json
import re
import warnings

import keras
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import keras_compress
from keras_compress.export import (
    ExportConfig,
    Parity,
    ParityError,
    TFLiteClassifier,
    export_classifier,
    graph,
    to_tflite,
    tokens,
)
from keras_compress.layers import (
    MaskedDense,
    MaskedEinsumDense,
    PrunableAttention,
    QuantizedDense,
    QuantizedEinsumDense,
)
from keras_compress.quantization import qat_ranges
from keras_compress.surgery import tree
from tests.conftest import bert_inputs, small_bert_classifier

QUIET = {"verbose": False}
WORDS = ["hello", "hi", "bye", "book", "a", "table", "for", "two", "what", "is", "rasa", "x"]


def text_classifier(sequence_length=16):
    """A small random BERT classifier with a real keras-hub preprocessor."""
    import keras_hub

    model = small_bert_classifier()
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
    vocabulary += [f"w{i}" for i in range(100 - len(vocabulary))]
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=sequence_length
    )
    return keras_hub.models.BertTextClassifier(
        model.backbone, num_classes=3, preprocessor=preprocessor
    )


def keras_outputs(model, inputs):
    return np.asarray(model(inputs, training=False))


@pytest.mark.parametrize("batch_size", [1, None])
def test_float_export_equals_keras(bert_classifier, tmp_path, batch_size):
    path = tmp_path / "model.tflite"
    report = to_tflite(bert_classifier, path,
                       ExportConfig(sequence_lengths=(8, 16), batch_size=batch_size), **QUIET)
    assert report.parity["max_abs_diff"] <= 1e-4
    classifier = TFLiteClassifier(path)
    for length in (8, 16):  # rows of every bucket, one of them padded
        x = bert_inputs(batch=3, length=length, seed=length)
        np.testing.assert_allclose(classifier.outputs(x), keras_outputs(bert_classifier, x),
                                   atol=1e-4)
    assert set(Interpreter(model_path=str(path)).get_signature_list()) == {"seq_8", "seq_16"}


def weight_shapes(path, signature):
    """`{tensor name: shape}` of the 2-D constant tensors (weights) of one signature."""
    interpreter = Interpreter(model_path=str(path))
    subgraph = interpreter.get_signature_runner(signature)._subgraph_index
    return {d["name"]: tuple(d["shape"]) for d in interpreter.get_tensor_details(subgraph)
            if len(d["shape"]) == 2 and "MatMul" in d["name"]}


def find_shape(shapes, layer_index, layer_name):
    pattern = re.compile(rf"transformer_layer_{layer_index}(_\d+)?/.*{layer_name}")
    (shape,) = {shape for name, shape in shapes.items() if pattern.search(name)}
    return shape


def test_pruned_heads_and_neurons_give_smaller_tflite_tensors(bert_classifier, tmp_path):
    keras_compress.swap_layers(bert_classifier, {
        keras.layers.MultiHeadAttention: PrunableAttention,
        keras.layers.EinsumDense: MaskedEinsumDense,
        keras.layers.Dense: MaskedDense,
    })
    rng = np.random.default_rng(0)
    kept_neurons = []
    for encoder in bert_classifier.backbone.transformer_layers:
        encoder._self_attention_layer.head_mask.assign([1.0, 0.0])
        unit_mask = (rng.random(32) > 0.5).astype("float32")
        encoder._feedforward_intermediate_dense.unit_mask.assign(unit_mask)
        kept_neurons.append(int(unit_mask.sum()))
    assert all(0 < kept < 32 for kept in kept_neurons)
    path = tmp_path / "model.tflite"
    to_tflite(bert_classifier, path, ExportConfig(sequence_lengths=(16,)), **QUIET)
    x = bert_inputs(batch=2, length=16)
    np.testing.assert_allclose(TFLiteClassifier(path).outputs(x),
                               keras_outputs(bert_classifier, x), atol=1e-4)
    shapes = weight_shapes(path, "seq_16")
    for index, kept in enumerate(kept_neurons):  # TFLite stores (outputs, inputs)
        assert find_shape(shapes, index, "feedforward_intermediate_dense") == (kept, 16)
        assert find_shape(shapes, index, "feedforward_output_dense") == (16, kept)
        assert find_shape(shapes, index, "key") == (8, 16)  # 1 head of 8, was 2
        assert find_shape(shapes, index, "attention_output") == (16, 8)


def test_text_runner_matches_keras_predict(tmp_path):
    model = text_classifier()
    texts = ["hello", "book a table for two", "what is rasa " * 8, "x"]
    expected = keras.ops.softmax(model.predict(texts, verbose=0)).numpy()
    classifier = export_classifier(
        model, tmp_path / "model.tflite", ExportConfig(sequence_lengths=(4, 8, 16)),
        label_names=["greet", "book", "ask"], **QUIET)
    prediction = classifier.predict(texts)
    np.testing.assert_allclose(prediction.probabilities, expected, atol=1e-5)
    assert prediction.labels == [["greet", "book", "ask"][i] for i in expected.argmax(-1)]
    assert classifier.predict("hello").probabilities.shape == (1, 3)
    assert classifier.predict([]).probabilities.shape == (0, 3)
    # The runner packs text exactly like the keras-hub preprocessor does.
    packed = keras.tree.map_structure(np.asarray, model.preprocessor(texts))
    ours = tokens.pack_texts(model.preprocessor.tokenizer, texts, 16)
    np.testing.assert_array_equal(ours["token_ids"], packed["token_ids"])
    np.testing.assert_array_equal(ours["padding_mask"], packed["padding_mask"].astype("int32"))
    # The tokenizer saved beside the file: a new process needs only the path.
    reloaded = TFLiteClassifier(tmp_path / "model.tflite")
    assert (tmp_path / "model.tflite.tokenizer" / "tokenizer.json").is_file()
    np.testing.assert_allclose(reloaded.predict(texts).probabilities, expected, atol=1e-5)


def test_bucket_choice(bert_classifier, tmp_path, monkeypatch):
    path = tmp_path / "model.tflite"
    to_tflite(bert_classifier, path, ExportConfig(sequence_lengths=(16, 4, 8)), **QUIET)
    classifier = TFLiteClassifier(path)
    assert classifier.sequence_lengths == (4, 8, 16)
    assert [classifier.bucket_for(n) for n in (1, 4, 5, 8, 9, 16, 40)] == [4, 4, 8, 8, 16, 16, 16]
    used = []
    original = TFLiteClassifier._run_bucket
    monkeypatch.setattr(TFLiteClassifier, "_run_bucket",
                        lambda self, bucket, packed: used.append((bucket, len(packed["token_ids"])))
                        or original(self, bucket, packed))
    mask = np.zeros((4, 16), "int32")
    for row, length in enumerate([3, 7, 16, 4]):
        mask[row, :length] = 1
    x = {"token_ids": mask * 5, "padding_mask": mask}
    classifier.outputs(x)
    assert sorted(used) == [(4, 2), (8, 1), (16, 1)]


def test_static_batch_pads_chunks(bert_classifier, tmp_path):
    path = tmp_path / "model.tflite"
    to_tflite(bert_classifier, path, ExportConfig(sequence_lengths=(8,), batch_size=3), **QUIET)
    x = bert_inputs(batch=5, length=8)
    np.testing.assert_allclose(TFLiteClassifier(path).outputs(x),
                               keras_outputs(bert_classifier, x), atol=1e-4)


def test_quantized_exports_are_smaller_and_lower_precision(bert_classifier, tmp_path):
    sizes, files = {}, {}
    data = bert_inputs(batch=16, length=16, seed=1)
    for mode in (None, "float16", "dynamic", "int8"):
        files[mode] = tmp_path / f"{mode}.tflite"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            config = ExportConfig(mode, sequence_lengths=(16,),
                                  representative_data=data if mode == "int8" else None)
            report = to_tflite(bert_classifier, files[mode], config,
                               parity=Parity.for_quantization(mode) if mode is None
                               else Parity(atol=None, min_agreement=None), **QUIET)
        float_warnings = [w for w in caught if "ops left in float32" in str(w.message)]
        assert len(float_warnings) == (mode == "int8")
        sizes[mode] = report.size_bytes
        assert report.size_bytes == files[mode].stat().st_size
    assert sizes["float16"] < sizes[None] and sizes["dynamic"] < sizes[None]
    assert "FULLY_CONNECTED" in graph.float_ops(files[None].read_bytes())
    assert "FULLY_CONNECTED" not in graph.float_ops(files["int8"].read_bytes())
    # The converter leaves layer norm's NEG in float: named, and refused on request.
    kept = graph.float_ops(files["int8"].read_bytes())
    assert kept["NEG"]["layers"] == ["embeddings_layer_norm", "feedforward_layer_norm",
                                     "self_attention_layer_norm"]
    with pytest.raises(ValueError, match="could not be quantized .*NEG x5"):
        to_tflite(bert_classifier, tmp_path / "strict.tflite",
                  ExportConfig("int8", sequence_lengths=(16,), representative_data=data,
                               allow_float_ops=False), **QUIET)
    weights = Interpreter(model_path=str(files["dynamic"])).get_tensor_details()
    assert any(d["dtype"] == np.int8 for d in weights)


def test_int8_with_int_io_dequantizes_outputs(bert_classifier, tmp_path):
    path = tmp_path / "model.tflite"
    data = bert_inputs(batch=16, length=8, seed=1)
    with pytest.warns(UserWarning, match="ops left in float32 .*: NEG x5"):
        report = to_tflite(bert_classifier, path,
                           ExportConfig("int8", sequence_lengths=(8,), io_type="int8",
                                        representative_data=data),
                           parity=Parity(atol=None, min_agreement=None), **QUIET)
    classifier = TFLiteClassifier(path)
    runner = classifier.interpreter.get_signature_runner("seq_8")
    assert runner.get_output_details()["outputs"]["dtype"] == np.int8
    x = bert_inputs(batch=2, length=8)
    diff = np.abs(classifier.outputs(x) - keras_outputs(bert_classifier, x)).max()
    scale = np.abs(keras_outputs(bert_classifier, x)).max()
    assert diff < 0.5 * scale, (diff, scale, report.parity)


def test_parity_failure_raises_and_writes_nothing(bert_classifier, tmp_path):
    path = tmp_path / "model.tflite"
    with pytest.raises(ParityError, match="max abs diff .* > atol 0"):
        to_tflite(bert_classifier, path, ExportConfig("dynamic", sequence_lengths=(8,)),
                  parity=Parity(atol=0.0), **QUIET)
    assert not path.exists() and not path.with_name("model.tflite.json").exists()


def test_report_json_and_table(bert_classifier, tmp_path, capsys):
    path = tmp_path / "model.tflite"
    report = to_tflite(bert_classifier, path, ExportConfig("dynamic", sequence_lengths=(8, 16)))
    printed = capsys.readouterr().out
    assert "quantization dynamic, buckets (8, 16)" in printed and "parity on 16 samples" in printed
    stored = json.loads(path.with_name("model.tflite.json").read_text())["report"]
    assert stored == json.loads(report.to_json())
    assert "latency_ms" not in stored  # timing is keras_compress.bench's job
    assert stored["parity"]["reference_length"] == 16
    assert stored["params"] == bert_classifier.count_params()
    assert stored["size_bytes"] == path.stat().st_size


def test_argument_errors(bert_classifier, tmp_path):
    path = tmp_path / "model.tflite"

    def export(**config):
        to_tflite(bert_classifier, path, ExportConfig(**config), **QUIET)

    with pytest.raises(ValueError, match="`quantization` must be one of"):
        export(quantization="int4", sequence_lengths=(8,))
    with pytest.raises(ValueError, match="`io_type='int8'` needs `quantization='int8'`"):
        export(quantization="dynamic", sequence_lengths=(8,), io_type="int8")
    with pytest.raises(ValueError, match="needs int8 ranges: pass `representative_data`"):
        export(quantization="int8", sequence_lengths=(8,))
    with pytest.raises(ValueError, match="exceeds the model's maximum sequence length 16"):
        export(sequence_lengths=(8, 32))
    with pytest.raises(ValueError, match="`sequence_lengths` is required"):
        export()
    with pytest.raises(ValueError, match="`label_names` has 2 names; the model has 3"):
        to_tflite(bert_classifier, path, ExportConfig(sequence_lengths=(8,)),
                  label_names=["a", "b"], **QUIET)
    with pytest.raises(ValueError, match="is text, but the model has no preprocessor"):
        export(quantization="int8", representative_data=["hello"], sequence_lengths=(8,))
    assert not path.exists()


def test_unsupported_model_input_is_named(tmp_path):
    model = keras.Sequential([keras.Input((8,), name="features"), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="dict of \\(batch, sequence\\) integer inputs"):
        to_tflite(model, tmp_path / "m.tflite", ExportConfig(sequence_lengths=(8,)), **QUIET)


def test_keras_quantized_model_is_refused_with_what_to_do(bert_classifier, tmp_path):
    bert_classifier.quantize("int8")  # Keras's own post-training int8 (it used to fail in strip)
    with pytest.raises(ValueError, match=r"model.quantize\(...\)`; model .* ExportConfig\('dynamic'\)"):
        to_tflite(bert_classifier, tmp_path / "m.tflite", ExportConfig(sequence_lengths=(8,)),
                  **QUIET)
    assert not list(tmp_path.iterdir())


def _qat_classifier(model, granularity="per_tensor"):
    keras_compress.swap_layers(model, {
        keras.layers.EinsumDense: lambda layer: QuantizedEinsumDense.from_layer(
            layer, weight_granularity=granularity),
        keras.layers.Dense: lambda layer: QuantizedDense.from_layer(
            layer, weight_granularity=granularity),
    })
    for seed in range(3):  # activation ranges, tracked as training would
        model(bert_inputs(batch=8, seed=seed), training=True)
    for _, _, layer in tree.walk(model):
        if isinstance(layer, (QuantizedDense, QuantizedEinsumDense)):
            layer.enable_quantization(True)
    return model


def test_int8_from_qat_ranges_needs_no_representative_data(bert_classifier, tmp_path):
    model = _qat_classifier(bert_classifier)
    path = tmp_path / "m.tflite"
    with pytest.warns(UserWarning, match="ops left in float32"):
        report = to_tflite(model, path, ExportConfig("int8", sequence_lengths=(8,)),
                           parity=Parity.for_quantization("int8", data=bert_inputs(16, seed=5)),
                           **QUIET)
    assert report.quantization == "int8"
    assert report.parity["label_agreement"] >= 0.8
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    kernels = [op for op in interpreter._get_ops_details() if op["op_name"] == "FULLY_CONNECTED"]
    int8_kernels = [op for op in kernels if tensors[op["inputs"][1]]["dtype"] == np.int8]
    # 2 layers x (query, key, value, attention output, 2 feed-forward) + pooler are QAT
    # layers; their int8 output scales are the learned ranges, not calibrated ones.
    assert len(int8_kernels) == 13
    learned = sorted((hi - lo) / 255 for r in qat_ranges(model).values()
                     for lo, hi in [r.get("preactivation", r["output"])])
    converted = sorted(tensors[op["outputs"][0]]["quantization"][0] for op in int8_kernels)
    np.testing.assert_allclose(converted, learned, rtol=1e-5)
    assert report.float_ops  # layer norm, softmax, ... are not covered by QAT


def test_int8_from_qat_ranges_refuses_what_it_cannot_do(bert_classifier, tmp_path):
    path = tmp_path / "m.tflite"
    with pytest.raises(ValueError, match="needs int8 ranges: pass `representative_data`"):
        to_tflite(bert_classifier, path, ExportConfig("int8", sequence_lengths=(8,)), **QUIET)
    model = _qat_classifier(bert_classifier)
    with pytest.raises(ValueError, match="`io_type='int8'` needs `representative_data`"):
        to_tflite(model, path, ExportConfig("int8", sequence_lengths=(8,), io_type="int8"),
                  **QUIET)
    with pytest.raises(ValueError, match="could not be quantized"):
        to_tflite(model, path, ExportConfig("int8", sequence_lengths=(8,),
                                            allow_float_ops=False), **QUIET)
    assert not path.exists()


def test_int8_from_qat_ranges_inside_pruned_attention_is_refused(tmp_path):
    model = small_bert_classifier()
    keras_compress.swap_layers(model, {keras.layers.MultiHeadAttention: PrunableAttention})
    keras_compress.swap_layers(model, {keras.layers.EinsumDense: QuantizedEinsumDense})
    model(bert_inputs(), training=True)
    for _, _, layer in tree.walk(model):
        if isinstance(layer, QuantizedEinsumDense):
            layer.enable_quantization(True)
    with pytest.raises(ValueError, match="Strip the pruned model first"):
        to_tflite(model, tmp_path / "m.tflite", ExportConfig("int8", sequence_lengths=(8,)),
                  **QUIET)
    with pytest.raises(ValueError, match="inside pruned attention"):
        keras_compress.strip(model, keep_quantization=True)


def test_runner_errors(bert_classifier, tmp_path):
    path = tmp_path / "model.tflite"
    to_tflite(bert_classifier, path, ExportConfig(sequence_lengths=(8,)), **QUIET)
    classifier = TFLiteClassifier(path)
    with pytest.raises(ValueError, match="needs a tokenizer"):
        classifier.predict(["hello"])
    with pytest.raises(TypeError, match="`inputs` must be a dict"):
        classifier.outputs([[1, 2, 3]])
    with pytest.raises(ValueError, match="missing \\['padding_mask'\\]"):
        classifier.outputs({"token_ids": [[1, 2, 3]]})
    text_model = TFLiteClassifier(path, tokenizer=text_classifier().preprocessor)
    with pytest.raises(TypeError, match="item 1 is int"):
        text_model.predict(["hello", 3])
    path.with_name("model.tflite.json").unlink()
    with pytest.raises(FileNotFoundError, match="model.tflite.json not found"):
        TFLiteClassifier(path)
