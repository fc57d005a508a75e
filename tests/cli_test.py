"""The `keras-compress` command (keras_compress/cli.py), run in process on a tiny BERT.

Each bad-input row of docs/reliability.md for the CLI is one test here: exit code, and
one line on stderr that names the argument or path.
"""

import contextlib
import io
import json
import pathlib
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_compress.cli import main

INTENTS = {
    "greet": ["hi", "hello there", "good morning"],
    "goodbye": ["bye", "see you later", "good night"],
    "demo": ["book a demo", "can i get a demo", "show me rasa"],
}
LABELS = sorted(INTENTS)


def tiny_classifier():
    """A random 1-layer BertTextClassifier with a real tokenizer and preprocessor."""
    import keras_hub

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    words = sorted({word for texts in INTENTS.values() for text in texts for word in text.split()})
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words, lowercase=True
    )
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=16)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=32,
    )
    return keras_hub.models.BertTextClassifier(backbone, len(LABELS), preprocessor=preprocessor)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Files of a tiny model: plain.keras, compressed.keras (a head pruned), data.jsonl."""
    import keras_compress
    from keras_compress.layers import MaskedDense, PrunableAttention

    folder = tmp_path_factory.mktemp("cli")
    model = tiny_classifier()
    model.save(folder / "plain.keras")
    keras_compress.swap_layers(model, {keras.layers.MultiHeadAttention: PrunableAttention,
                                       keras.layers.Dense: MaskedDense})
    model.backbone.transformer_layers[0]._self_attention_layer.head_mask.assign([1.0, 0.0])
    model.save(folder / "compressed.keras")
    rows = [{"text": text, "intent": intent} for intent in LABELS for text in INTENTS[intent]]
    write_jsonl(folder / "data.jsonl", rows)
    return folder


@pytest.fixture(scope="module")
def exported(tiny):
    """`keras-compress export` of the compressed model, dynamic int8, buckets 8 and 16.

    Returns `(path of the .tflite, exit code, stdout, stderr)`.
    """
    out = tiny / "export" / "m.tflite"
    argv = ["export", str(tiny / "compressed.keras"), "--quantize", "dynamic", "--out", str(out),
            "--lengths", "8,16", "--labels", str(tiny / "data.jsonl"),
            "--parity-data", str(tiny / "data.jsonl")]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(argv)
    return out, code, stdout.getvalue(), stderr.getvalue()


def run(capsys, *argv):
    """`main(argv)` -> (exit code, stdout, stderr)."""
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_error(result, code, *fragments):
    """Exit `code`, and one line on stderr holding every fragment."""
    actual, _, err = result
    assert actual == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0], err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# --- the commands --------------------------------------------------------------------


@pytest.mark.parametrize("name, rows", [("plain", 0), ("compressed", 4)])
def test_inspect_prints_summary_and_parameter_counts(capsys, tiny, name, rows):
    code, out, err = run(capsys, "inspect", tiny / f"{name}.keras")
    assert code == 0, err
    assert 'Compression summary: "bert_text_classifier"' in out
    assert f"{rows} compression layers" in out
    assert "BertTextClassifier" in out and "sequence_length 16" in out
    counts = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert {"all", "weights", "after", "non-zero"} <= set(counts)
    after = int(counts["after"].split()[2].replace(",", ""))
    weights = int(counts["weights"].split()[1].replace(",", ""))
    if name == "compressed":
        assert "PrunableAttention" in out and "1/2" in out
        assert after < weights  # the pruned head is cut out by strip
    else:
        assert after == weights


def test_export_dynamic_with_lengths_writes_model_metadata_and_tokenizer(exported):
    out, code, stdout, err = exported
    assert code == 0, err
    assert "quantization dynamic" in stdout and "label agreement 100.0%" in stdout
    assert "parity on 9 samples" in stdout
    metadata = json.loads(out.with_name("m.tflite.json").read_text())
    assert metadata["sequence_lengths"] == [8, 16]
    assert metadata["label_names"] == LABELS
    assert metadata["quantization"] == "dynamic"
    assert (out.with_name("m.tflite.tokenizer") / "tokenizer.json").is_file()


@pytest.mark.filterwarnings("ignore:`compile\\(\\)` was not called")
def test_bench_reports_accuracy_macro_f1_and_latency(capsys, tiny, exported):
    out = exported[0]
    code, stdout, err = run(capsys, "bench", out, "--data", tiny / "data.jsonl", "--threads", 1)
    assert code == 0, err
    values = {line.split()[0]: line.split()[1] for line in stdout.splitlines()
              if line.strip().startswith(("accuracy", "macro-F1"))}
    # The TFLite labels are the Keras model's (parity), so the accuracy is too.
    model = keras.saving.load_model(tiny / "compressed.keras")
    texts = [text for intent in LABELS for text in INTENTS[intent]]
    truth = np.repeat(np.arange(len(LABELS)), 3)
    expected = np.mean(np.argmax(model.predict(texts, verbose=0), -1) == truth)
    assert float(values["accuracy"]) == pytest.approx(expected, abs=1e-4)
    assert 0 <= float(values["macro-F1"]) <= 1
    assert "9 messages, 3 intents" in stdout
    assert "model only" in stdout and "tokenize + model" in stdout and "median" in stdout

    csv = tiny / "data.csv"
    csv.write_text("text,intent\nhi,greet\nbook a demo,demo\n", encoding="utf-8")
    code, stdout, err = run(capsys, "bench", out, "--data", csv, "--limit", 1,
                            "--tokenizer", tiny / "plain.keras")
    assert code == 0, err
    assert "1 messages, 1 intents" in stdout


def test_installed_console_script_shows_help():
    script = pathlib.Path(sys.executable).parent / "keras-compress"
    if not script.is_file():
        script = shutil.which("keras-compress")
    assert script, "keras-compress is not installed: pip install -e . --no-deps"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "inspect" in result.stdout and "export" in result.stdout and "bench" in result.stdout


@pytest.mark.parametrize("command, option", [
    ("inspect", "MODEL.keras"), ("export", "--quantize"), ("bench", "--data"),
])
def test_every_command_has_help(capsys, command, option):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0 and option in out


# --- bad input: one test per row of docs/reliability.md ------------------------------


@pytest.mark.parametrize("command", ["inspect", "export"])
def test_missing_model_path_is_named(capsys, tmp_path, command):
    assert_error(run(capsys, command, tmp_path / "nope.keras"), 2, "nope.keras", "no such file")


@pytest.mark.parametrize("command, name, expected", [
    ("inspect", "model.h5", ".keras"), ("export", "model.tflite", ".keras"),
    ("bench", "model.keras", ".tflite"),
])
def test_file_of_the_wrong_kind_is_named(capsys, tmp_path, command, name, expected):
    path = tmp_path / name
    path.write_bytes(b"\0")
    argv = [command, path] + (["--data", path] if command == "bench" else [])
    assert_error(run(capsys, *argv), 2, name, f"not a {expected} file")


def test_a_directory_is_not_a_model(capsys, tmp_path):
    folder = tmp_path / "model.keras"
    folder.mkdir()
    assert_error(run(capsys, "inspect", folder), 2, "model.keras", "directory")


def test_corrupt_keras_file_is_named(capsys, tmp_path):
    path = tmp_path / "broken.keras"
    path.write_text("not a zip")
    assert_error(run(capsys, "inspect", path), 1, "cannot load", "broken.keras")


def test_corrupt_keras_file_is_not_called_missing(capsys, tmp_path):
    path = tmp_path / "broken.keras"
    path.write_text("not a zip")
    result = run(capsys, "inspect", path)
    assert_error(result, 1, "broken.keras", "exists", "not a zip file")
    assert "not found" not in str(result).lower()


def test_unknown_quantization_mode_is_named(capsys, tiny):
    result = run(capsys, "export", tiny / "plain.keras", "--quantize", "int4")
    assert_error(result, 2, "--quantize", "int4", "dynamic")


@pytest.mark.parametrize("lengths, fragment", [
    ("16,abc", "'abc' is not an integer"), ("0", ">= 3"), ("-8", ">= 3"), ("16,16", "duplicates"),
])
def test_bad_lengths_are_named(capsys, tiny, lengths, fragment):
    result = run(capsys, "export", tiny / "plain.keras", f"--lengths={lengths}")
    assert_error(result, 2, "--lengths", fragment)


def test_lengths_beyond_the_model_are_named(capsys, tiny, tmp_path):
    result = run(capsys, "export", tiny / "plain.keras", "--lengths", "16,64",
                 "--out", tmp_path / "m.tflite")
    assert_error(result, 1, "--lengths", "64", "32")


def test_out_must_be_a_tflite_path(capsys, tiny, tmp_path):
    result = run(capsys, "export", tiny / "plain.keras", "--out", tmp_path / "m.onnx")
    assert_error(result, 2, "--out", "m.onnx", ".tflite")


def test_label_count_must_match_the_model(capsys, tiny, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("greet\ngoodbye\n")
    result = run(capsys, "export", tiny / "plain.keras", "--labels", labels,
                 "--out", tmp_path / "m.tflite")
    assert_error(result, 1, "--labels", "labels.txt", "2 label names", "3 classes")
    assert not (tmp_path / "m.tflite").exists()


def test_int8_without_representative_data_says_so(capsys, tiny, tmp_path):
    result = run(capsys, "export", tiny / "plain.keras", "--quantize", "int8",
                 "--out", tmp_path / "m.tflite")
    assert_error(result, 1, "--representative-data")


@pytest.mark.parametrize("option, name", [
    ("--labels", "labels.txt"), ("--labels", "train.jsonl"),
    ("--representative-data", "calibration.txt"), ("--parity-data", "valid.csv"),
])
def test_empty_export_data_files_are_named(capsys, tiny, tmp_path, option, name):
    (tmp_path / name).write_text("")
    result = run(capsys, "export", tiny / "plain.keras", option, tmp_path / name,
                 "--out", tmp_path / "m.tflite")
    assert_error(result, 1, option, name, "empty")


@pytest.mark.parametrize("option, value, fragment", [
    ("--min-agreement", "1.5", "in [0, 1]"), ("--atol", "x", "not a number"),
    ("--data-limit", "0", ">= 1"),
])
def test_bad_export_numbers_are_named(capsys, tiny, option, value, fragment):
    result = run(capsys, "export", tiny / "plain.keras", option, value)
    assert_error(result, 2, option, fragment)


@pytest.fixture
def bench_model(exported, tmp_path):
    """The exported model, copied so that tests can break its side files."""
    out = exported[0]
    copy = tmp_path / "copy" / "m.tflite"
    copy.parent.mkdir()
    shutil.copy(out, copy)
    shutil.copy(out.with_name("m.tflite.json"), copy.with_name(copy.name + ".json"))
    shutil.copytree(out.with_name("m.tflite.tokenizer"), copy.with_name(copy.name + ".tokenizer"))
    return copy


def test_missing_tflite_is_named(capsys, tiny, tmp_path):
    result = run(capsys, "bench", tmp_path / "gone.tflite", "--data", tiny / "data.jsonl")
    assert_error(result, 2, "gone.tflite", "no such file")


@pytest.mark.parametrize("content, fragments", [
    ("", ["--data", "data.jsonl", "empty"]),
    ('{"text": "hi"}\n', ["--data", "data.jsonl:1", "'text' and 'intent'"]),
    ('{"intent": "greet"}\n', ["--data", "data.jsonl:1", "'text' and 'intent'"]),
    ('{"text": "hi", "intent": "greet"}\n{"text": "yo", "intent": "chitchat"}\n',
     ["--data", "data.jsonl", "1 intent the model does not know", "'chitchat'"]),
])
def test_bad_data_files_are_named(capsys, bench_model, tmp_path, content, fragments):
    data = tmp_path / "data.jsonl"
    data.write_text(content)
    assert_error(run(capsys, "bench", bench_model, "--data", data), 1, *fragments)


def test_csv_data_without_an_intent_column_is_named(capsys, bench_model, tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("text,label\nhi,greet\n")
    result = run(capsys, "bench", bench_model, "--data", data)
    assert_error(result, 1, "--data", "data.csv", "'intent'")


def test_missing_data_file_is_named(capsys, tiny, bench_model, tmp_path):
    result = run(capsys, "bench", bench_model, "--data", tmp_path / "test.jsonl")
    assert_error(result, 2, "--data", "test.jsonl", "no such file")
    result = run(capsys, "export", tiny / "plain.keras", "--labels", tmp_path / "train.jsonl")
    assert_error(result, 2, "--labels", "train.jsonl", "no such file")


def test_export_without_labels_cannot_be_benchmarked(capsys, tiny, bench_model):
    meta = bench_model.with_name(bench_model.name + ".json")
    meta.write_text(json.dumps(json.loads(meta.read_text()) | {"label_names": None}))
    result = run(capsys, "bench", bench_model, "--data", tiny / "data.jsonl")
    assert_error(result, 1, "no label names", "--labels")


def test_missing_metadata_is_named(capsys, tiny, bench_model):
    bench_model.with_name(bench_model.name + ".json").unlink()
    result = run(capsys, "bench", bench_model, "--data", tiny / "data.jsonl")
    assert_error(result, 1, f"{bench_model.name}.json not found")


def test_missing_tokenizer_is_named(capsys, tiny, bench_model, tmp_path):
    shutil.rmtree(bench_model.with_name(bench_model.name + ".tokenizer"))
    result = run(capsys, "bench", bench_model, "--data", tiny / "data.jsonl")
    assert_error(result, 1, "no tokenizer", "--tokenizer")
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    result = run(capsys, "bench", bench_model, "--data", tiny / "data.jsonl", "--tokenizer", empty)
    assert_error(result, 1, "--tokenizer", "empty_dir", "no tokenizer.json")


@pytest.mark.parametrize("option, value", [("--threads", "0"), ("--limit", "-1")])
def test_bad_bench_numbers_are_named(capsys, tiny, bench_model, option, value):
    result = run(capsys, "bench", bench_model, "--data", tiny / "data.jsonl", option, value)
    assert_error(result, 2, option, ">= 1")


def test_corrupt_tflite_is_named(capsys, tiny, bench_model):
    bench_model.write_bytes(b"not a flatbuffer" * 8)
    result = run(capsys, "bench", bench_model, "--data", tiny / "data.jsonl")
    assert_error(result, 1, "cannot load", "m.tflite", "TFLite")
