"""The main job, examples/compress_intent_classifier.py, end to end in a few steps.

The fast test runs it on a tiny random BERT saved as a local keras-hub preset (with a
vocabulary of the bundled data's words); the slow one on the real MiniLM, as the README's
command does, in `--tiny` mode.
"""

import importlib.util
import json
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "compress_intent_classifier.py"
DATA = ROOT / "examples" / "data" / "intents.jsonl"


def load_example():
    spec = importlib.util.spec_from_file_location("compress_intent_classifier", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example():
    return load_example()


def tiny_bert_preset(directory):
    """A 2-layer random BERT and a WordPiece vocabulary of the bundled data, as a preset."""
    import keras
    import keras_hub

    words = set()
    for line in DATA.read_text(encoding="utf-8").splitlines():
        words |= set(re.findall(r"\w+|[^\w\s]", json.loads(line)["text"].lower()))
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words)]
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary), num_layers=2, num_heads=3, hidden_dim=24,
        intermediate_dim=48, max_sequence_length=32,
    )
    backbone.save_to_preset(str(directory))
    keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True).save_to_preset(
        str(directory))
    return directory


@pytest.fixture(scope="module")
def tiny_run(example, tmp_path_factory):
    preset = tiny_bert_preset(tmp_path_factory.mktemp("tiny_bert"))
    out = tmp_path_factory.mktemp("run")
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        report = example.main([
            "--tiny", "--preset", str(preset), "--out", str(out), "--epochs", "2",
            "--max-steps", "3", "--quiet",
        ])
    return report, out, printed.getvalue()


def check_report(report, out, printed, intents=8):
    saved = json.loads((out / "report.json").read_text())
    assert saved["variants"].keys() == report["variants"].keys() == {
        "keras_fp32", "keras_pruned", "tflite_unpruned", "tflite_compressed"}
    assert len(saved["intents"]) == intents
    assert saved["sizes"] == {"train": 144, "valid": 16, "test": 40}
    for name, variant in saved["variants"].items():
        assert 0.0 <= variant["macro_f1"] <= 1.0, name
        assert 0.0 <= variant["accuracy"] <= 1.0, name
        assert 0.0 < variant["median_ms"] < 5000 and 0.0 < variant["mean_ms"] < 5000, name
    before, after = saved["variants"]["keras_fp32"], saved["variants"]["tflite_compressed"]
    assert after["params"] < before["params"]  # heads and neurons were cut out
    assert saved["variants"]["keras_pruned"]["params"] == after["params"]
    assert 0 < after["size_mb"] < before["size_mb"]
    assert saved["speedup_median"] == pytest.approx(before["median_ms"] / after["median_ms"])
    assert after["parity"]["samples"] == 16
    tflite = pathlib.Path(saved["files"]["tflite"])
    assert tflite.is_file() and tflite.with_suffix(".tflite.json").is_file()
    assert tflite.stat().st_size == pytest.approx(after["size_mb"] * 1e6)
    assert (out / "fine_tuned.keras").is_file()
    # The printed table has every row, with the file's numbers.
    for row in ("test macro-F1", "test accuracy", "parameters", "size on disk (MB)",
                "latency / message, median (ms)", "latency / message, mean (ms)"):
        assert row in printed
    assert f"{after['params']:,}" in printed and f"{before['macro_f1']:.4f}" in printed
    return saved


def test_tiny_run_writes_report_table_tflite_and_plot(tiny_run):
    report, out, printed = tiny_run
    saved = check_report(report, out, printed)
    assert saved["settings"]["epochs"] == 2 and saved["settings"]["max_steps"] == 3
    assert saved["variants"]["tflite_compressed"]["buckets"] == [8, 16, 32]
    assert saved["timed_messages"] == 8
    assert (out / "accuracy_vs_latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_tflite_file_runs_on_its_own(tiny_run):
    from keras_compress.export import TFLiteClassifier

    report, out, _ = tiny_run
    classifier = TFLiteClassifier(report["files"]["tflite"], tokenizer=report["preset"])
    prediction = classifier.predict(["hello there", "book a table for two please"])
    assert set(prediction.labels) <= set(report["intents"])


def test_plot_is_optional(example, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    problem = example.save_plot({}, tmp_path / "plot.png", "title")
    assert "matplotlib is not installed" in problem
    assert not (tmp_path / "plot.png").exists()


def run_error(example, argv):
    with pytest.raises(SystemExit) as raised:
        example.main(argv)
    message = str(raised.value.code)
    assert message.startswith("error: ") and "\n" not in message
    return message


def test_bad_paths_and_data_give_one_line_errors(example, tmp_path):
    out = ["--out", str(tmp_path / "out")]
    message = run_error(example, ["--data", str(tmp_path / "missing.jsonl"), *out])
    assert "missing.jsonl" in message and "not found" in message
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert run_error(example, ["--data", str(empty), *out]).endswith(
        "empty.csv: no examples (the file is empty).")
    few = tmp_path / "few.csv"
    few.write_text("text,intent\nhi,greet\nhello,greet\nbye,goodbye\nciao,goodbye\n")
    assert "few.csv: no test messages" in run_error(example, ["--data", str(few), *out])
    (tmp_path / "split").mkdir()
    (tmp_path / "split" / "train.jsonl").write_text(
        '{"text": "hi", "intent": "greet"}\n{"text": "bye", "intent": "goodbye"}\n')
    (tmp_path / "split" / "test.yml").write_text(
        "nlu:\n- intent: book_table\n  examples: |\n    - a table for two\n")
    message = run_error(example, ["--data", str(tmp_path / "split"), *out])
    assert "test.yml" in message and "'book_table'" in message
    assert "not in the training data" in message
    assert not (tmp_path / "out").exists()  # nothing was started


def test_bad_options_are_refused(example, capsys):
    for argv in (["--prune-heads", "1.5"], ["--buckets", "2,8"], ["--epochs", "0"]):
        with pytest.raises(SystemExit):
            example.parse_args(argv)
        assert "error:" in capsys.readouterr().err
    assert example.parse_args(["--sequence-length", "64"]).buckets == (8, 16, 32, 64)
    assert example.parse_args(["--sequence-length", "48"]).buckets == (8, 16, 32, 48)


@pytest.mark.slow
def test_tiny_run_on_the_real_minilm(example, tmp_path, capsys):
    report = example.main(["--tiny", "--out", str(tmp_path), "--quiet", "--no-plot"])
    saved = check_report(report, tmp_path, capsys.readouterr().out)
    assert saved["variants"]["keras_fp32"]["params"] == 22_716_296  # MiniLM-L6 + 8 classes
    assert saved["variants"]["keras_pruned"]["heads_kept"] == 48
    assert saved["variants"]["keras_pruned"]["neurons_kept"] == 4608
