"""to_tflite never destroys a file, checks every argument first, and checks parity at the
model's own length (issue 14.1, 14.2, 14.5, 14.6)."""

import warnings

import keras
import numpy as np
import pytest

from keras_compress import files
from keras_compress.export import (
    ExportConfig,
    Parity,
    ParityError,
    TFLiteClassifier,
    to_tflite,
    write,
)
from keras_compress.export import convert as convert_module
from keras_compress.export.verify import PADDING_CAUSE
from tests.conftest import bert_inputs
from tests.export.tflite_test import text_classifier

QUIET = {"verbose": False}
CONFIG = ExportConfig(sequence_lengths=(8,))


def files_in(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_path_that_is_not_tflite_is_refused_unless_overwrite(bert_classifier, tmp_path):
    saved = tmp_path / "model.keras"
    saved.write_bytes(b"the user's saved model")
    with pytest.raises(ValueError, match="`path` must end in .tflite; received '.*model.keras'"):
        to_tflite(bert_classifier, saved, CONFIG, **QUIET)
    assert saved.read_bytes() == b"the user's saved model"
    assert files_in(tmp_path) == ["model.keras"]
    to_tflite(bert_classifier, saved, CONFIG, overwrite=True, **QUIET)
    assert write.is_tflite_file(saved)


def test_an_existing_file_that_is_not_tflite_is_refused(bert_classifier, tmp_path):
    path = tmp_path / "notes.tflite"
    path.write_text("not a model")
    with pytest.raises(FileExistsError, match="notes.tflite' exists and is not a TFLite file"):
        to_tflite(bert_classifier, path, CONFIG, **QUIET)
    assert path.read_text() == "not a model"
    other = tmp_path / "model.tflite"
    other.with_name("model.tflite.json").write_text("{\"mine\": 1}")
    with pytest.raises(FileExistsError, match="model.tflite.json' exists and is not to_tflite"):
        to_tflite(bert_classifier, other, CONFIG, **QUIET)
    assert not other.exists()


def test_an_earlier_export_is_replaced(bert_classifier, tmp_path):
    path = tmp_path / "model.tflite"
    to_tflite(bert_classifier, path, CONFIG, label_names=["a", "b", "c"], **QUIET)
    to_tflite(bert_classifier, path, CONFIG, label_names=["x", "y", "z"], **QUIET)
    assert TFLiteClassifier(path).label_names == ["x", "y", "z"]
    assert files_in(tmp_path) == ["model.tflite", "model.tflite.json"]


def test_a_failed_metadata_write_leaves_nothing_and_replaces_nothing(
        bert_classifier, tmp_path, monkeypatch):
    fresh = tmp_path / "new" / "deeper" / "model.tflite"
    path = tmp_path / "model.tflite"
    to_tflite(bert_classifier, path, CONFIG, label_names=["a", "b", "c"], **QUIET)
    before = {name: (tmp_path / name).read_bytes() for name in files_in(tmp_path)}

    def broken(metadata):
        raise OSError("disk full")

    monkeypatch.setattr(write, "metadata_text", broken)
    for target in (path, fresh):
        with pytest.raises(OSError, match="disk full"):
            to_tflite(bert_classifier, target, CONFIG, label_names=["x", "y", "z"], **QUIET)
    assert files_in(tmp_path) == sorted(before)  # no staging folder, no "new/"
    assert {name: (tmp_path / name).read_bytes() for name in before} == before


def test_a_failed_rename_puts_the_earlier_export_back(text_model, tmp_path, monkeypatch):
    path = tmp_path / "model.tflite"
    to_tflite(text_model, path, CONFIG, label_names=["a", "b", "c"], **QUIET)
    names = files_in(tmp_path)
    assert names == ["model.tflite", "model.tflite.json", "model.tflite.tokenizer"]
    before = path.read_bytes(), path.with_name("model.tflite.json").read_text()
    moves = []
    original = files._move

    def fail_on_the_metadata(source, target):
        moves.append(target)
        if str(target).endswith(".json"):
            raise OSError("rename failed")
        original(source, target)

    monkeypatch.setattr(files, "_move", fail_on_the_metadata)
    with pytest.raises(OSError, match="rename failed"):
        to_tflite(text_model, path, ExportConfig(sequence_lengths=(4, 8)),
                  label_names=["x", "y", "z"], **QUIET)
    assert any(str(m).endswith(".tokenizer") for m in moves)  # it got that far
    assert files_in(tmp_path) == names
    assert (path.read_bytes(), path.with_name("model.tflite.json").read_text()) == before
    assert (tmp_path / "model.tflite.tokenizer" / "tokenizer.json").is_file()
    assert TFLiteClassifier(path).label_names == ["a", "b", "c"]


@pytest.fixture
def text_model():
    return text_classifier(sequence_length=16)


def unmasked_pooling_model():
    """A user's functional classifier whose output depends on padding: it averages every
    position, padded ones included, and takes `padding_mask` without using it."""
    keras.utils.set_random_seed(0)
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((None,), dtype="int32", name="padding_mask")
    x = keras.layers.Embedding(100, 16)(token_ids)
    x = keras.layers.GlobalAveragePooling1D()(x)
    outputs = keras.layers.Dense(3)(x)
    return keras.Model({"token_ids": token_ids, "padding_mask": padding_mask}, outputs)


def test_a_model_whose_output_depends_on_padding_is_refused(tmp_path):
    model = unmasked_pooling_model()
    path = tmp_path / "model.tflite"
    with pytest.raises(ParityError, match=PADDING_CAUSE):
        to_tflite(model, path, ExportConfig(sequence_lengths=(4, 8)), **QUIET)
    assert files_in(tmp_path) == []
    # One bucket at its own length is what the user sees in Keras: that exports.
    report = to_tflite(model, path, ExportConfig(sequence_lengths=(8,)), **QUIET)
    assert report.parity["max_abs_diff"] <= 1e-4


def test_keras_hub_bert_buckets_match_keras_at_its_own_length(text_model, tmp_path):
    texts = ["hello", "book a table for two", "what is rasa " * 8, "x"]
    report = to_tflite(text_model, tmp_path / "m.tflite", ExportConfig(sequence_lengths=(4, 8)),
                       parity=Parity(data=texts), **QUIET)
    assert report.parity["reference_length"] == 16
    assert report.parity["max_abs_diff"] <= 1e-4


@pytest.mark.parametrize("arguments, error, message", [
    ({"parity": Parity(atol="tight")}, ValueError, "`atol` must be a number >= 0, or None"),
    ({"parity": Parity(min_agreement=1.5)}, ValueError, "`min_agreement` must be a fraction"),
    ({"config": ExportConfig(sequence_lengths=(8,), batch_size=0)}, ValueError, "`batch_size`"),
    ({"config": ExportConfig(sequence_lengths=(8,), allow_float_ops="no")}, TypeError,
     "`allow_float_ops` must be True or False"),
    ({"config": {"quantization": "dynamic"}}, TypeError, "`config` must be a .*ExportConfig"),
    ({"overwrite": "yes"}, TypeError, "`overwrite` must be True or False"),
    ({"label_names": "abc"}, TypeError, "`label_names` must be a list"),
    ({"parity": Parity(data=(["hi"], [0]))}, TypeError, "`parity.data` .* pass the texts only"),
    ({"parity": Parity(data={"text": ["hi"]})}, ValueError,
     "`parity.data` as a dict needs the keys token_ids and padding_mask"),
    ({"parity": Parity(data={"token_ids": np.ones((2, 8), int),
                             "padding_mask": np.ones((3, 8), int)})},
     ValueError, "`parity.data`: the packed arrays must have one shape"),
    ({"parity": Parity(data=[])}, ValueError, "`parity.data` has no texts"),
    ({"config": ExportConfig(sequence_lengths=(8,), representative_data=5)}, TypeError,
     "`representative_data` must be texts"),
    ({"latency": 3}, TypeError, "unexpected keyword arguments \\['latency'\\]"),
])
def test_every_argument_is_checked_before_conversion(
        bert_classifier, tmp_path, monkeypatch, arguments, error, message):
    def no_conversion(*args, **kwargs):
        raise AssertionError("converted before the arguments were checked")

    monkeypatch.setattr(convert_module, "_convert", no_conversion)
    arguments = {"config": CONFIG, **arguments}
    config = arguments.pop("config")
    with pytest.raises(error, match=message):
        to_tflite(bert_classifier, tmp_path / "m.tflite", config, **arguments, **QUIET)


def test_numpy_scalars_are_accepted(bert_classifier, tmp_path):
    config = ExportConfig(sequence_lengths=(np.int64(8),), batch_size=np.int64(2),
                          allow_float_ops=np.bool_(True))
    report = to_tflite(bert_classifier, tmp_path / "m.tflite", config,
                       parity=Parity(atol=np.float32(1e-3), min_agreement=np.float64(0.5)),
                       overwrite=np.bool_(False), **QUIET)
    assert report.batch_size == 2 and isinstance(report.parity["atol"], float)


def test_old_keywords_still_work_with_a_deprecation_warning(bert_classifier, tmp_path):
    x = bert_inputs(batch=5, length=8)
    with pytest.warns(DeprecationWarning, match="latency_runs, threads are ignored"):
        report = to_tflite(bert_classifier, tmp_path / "m.tflite", "dynamic",
                           sequence_lengths=(8,), parity_data=x, atol="default",
                           min_agreement=0.5, latency_runs=5, threads=(1,), **QUIET)
    assert report.quantization == "dynamic"
    assert report.parity["samples"] == 5 and report.parity["min_agreement"] == 0.5
    with pytest.raises(TypeError, match="either config=ExportConfig"):
        to_tflite(bert_classifier, tmp_path / "m.tflite", CONFIG, batch_size=2, **QUIET)


def test_corrupt_metadata_is_named(bert_classifier, tmp_path):
    path = tmp_path / "model.tflite"
    to_tflite(bert_classifier, path, CONFIG, **QUIET)
    path.with_name("model.tflite.json").write_text("{\"format\": ")
    with pytest.raises(ValueError, match="model.tflite.json is not valid JSON"):
        TFLiteClassifier(path)
    path.with_name("model.tflite.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="model.tflite.json is not keras_compress.tflite"):
        TFLiteClassifier(path)


def test_a_trained_functional_model_exports_without_a_compile_warning(tmp_path):
    keras.utils.set_random_seed(0)
    token_ids = keras.Input((8,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((8,), dtype="int32", name="padding_mask")
    x = keras.layers.Embedding(100, 16)(token_ids)  # 1,600 weights: row-scaled for "dynamic"
    mask = keras.ops.expand_dims(keras.ops.cast(padding_mask, "float32"), -1)
    x = keras.ops.sum(x * mask, axis=1) / keras.ops.sum(mask, axis=1)
    model = keras.Model({"token_ids": token_ids, "padding_mask": padding_mask},
                        keras.layers.Dense(3)(x))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    data = bert_inputs(batch=8, length=8)
    del data["segment_ids"]
    model.fit(data, np.arange(8) % 3, epochs=1, verbose=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        to_tflite(model, tmp_path / "m.tflite", ExportConfig("dynamic"),
                  parity=Parity(data=data, atol=None, min_agreement=0.5), **QUIET)
    assert not [w for w in caught if "compile" in str(w.message)], [
        str(w.message) for w in caught if "compile" in str(w.message)]


def test_the_runner_does_not_import_the_exporter(bert_classifier, tmp_path):
    import ast
    import pathlib

    import keras_compress.export.runner as runner

    tree = ast.parse(pathlib.Path(runner.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for a in node.names}
    assert not {name for name in imported if name and name.endswith(".tflite")}, imported
    # The old entry point remains, deprecated, for one release.
    with pytest.warns(DeprecationWarning, match="use keras_compress.export.export_classifier"):
        classifier = TFLiteClassifier.from_model(bert_classifier, tmp_path / "m.tflite", config=CONFIG,
                                                 **QUIET)
    assert classifier.sequence_lengths == (8,)
