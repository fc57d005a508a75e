"""The main job: `keras_compress.recipes.compress_text_classifier` and `keras-compress compress`.

Budget logic and config on fakes; the whole job on a tiny random BERT preset (the
bundled data's words as vocabulary), through the command line as the README runs it.
"""

import json
import pathlib

import pytest

from keras_compress import cli
from keras_compress.recipes import Candidate, CompressConfig, compress_text_classifier, select

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data" / "intents.jsonl"


# --- the budget ------------------------------------------------------------------------


def test_a_candidate_over_budget_is_never_chosen():
    scores = {"2L": 0.800, "3L": 0.8101, "teacher": 0.82}  # 2.0 and 0.99 points below
    chosen, tried = select.choose(["2L", "3L", "teacher"],
                                  lambda c: {"valid_macro_f1": scores[c]}, 0.82, 1.0)
    assert chosen == "3L" and [r["within_budget"] for r in tried] == [False, True]
    chosen, tried = select.choose(["2L", "3L", "teacher"],
                                  lambda c: {"valid_macro_f1": scores[c]}, 0.82, 0.5)
    assert chosen == "teacher" and [r["within_budget"] for r in tried] == [False, False, True]


def test_the_search_stops_at_the_first_candidate_within_budget():
    evaluated = []

    def evaluate(candidate):
        evaluated.append(candidate)
        return {"valid_macro_f1": {"2L": 0.70, "3L": 0.815, "4L": 0.82, "teacher": 0.82}[candidate]}

    chosen, tried = select.choose(["2L", "3L", "4L", "teacher"], evaluate, 0.82, 1.0)
    assert chosen == "3L" and evaluated == ["2L", "3L"]
    assert [r["within_budget"] for r in tried] == [False, True]


def test_try_all_tries_every_candidate_and_still_chooses_the_first_within_budget():
    scores = {"2L": 0.70, "3L": 0.815, "4L": 0.82, "teacher": 0.82}
    chosen, tried = select.choose(list(scores), lambda c: {"valid_macro_f1": scores[c]}, 0.82,
                                  1.0, try_all=True)
    assert chosen == "3L" and [r["candidate"] for r in tried] == list(scores)
    chosen, _ = select.choose(["2L", "teacher"], lambda c: {"valid_macro_f1": 0.1}, 0.9, 1.0,
                              try_all=True)
    assert chosen == "teacher"


def test_the_fallback_is_chosen_when_nothing_else_holds():
    chosen, tried = select.choose(["2L", "teacher"], lambda c: {"valid_macro_f1": 0.1}, 0.9, 1.0)
    assert chosen == "teacher" and len(tried) == 2 and not tried[-1]["within_budget"]


def test_candidates_are_ordered_cheapest_first_with_the_teacher_last():
    config = CompressConfig(candidates=(Candidate("teacher"), Candidate("3L", num_layers=3),
                                        Candidate("2L", num_layers=2),
                                        Candidate("3L_half", num_layers=3,
                                                  intermediate_dim_fraction=0.25),
                                        Candidate("8L", num_layers=8)))
    assert [c.name for c in config.ordered_candidates(6)] == ["3L_half", "2L", "3L", "teacher"]
    # a config without the fallback gets one
    only = CompressConfig(candidates=(Candidate("2L", num_layers=2),))
    assert [c.name for c in only.ordered_candidates(6)] == ["2L", "teacher"]


@pytest.mark.parametrize("kwargs, message", [
    ({"max_drop": -0.5}, "max_drop"),
    ({"max_drop": "1"}, "max_drop"),
    ({"student_epochs": 0}, "student_epochs"),
    ({"sequence_lengths": (32, 16)}, "sequence_lengths"),
    ({"candidates": (Candidate("base"),)}, "named 'teacher'"),
    ({"candidates": (Candidate("a", 2), Candidate("a", 3))}, "names must differ"),
    ({"validation_fraction": 1.0}, "validation_fraction"),
    ({"trim_vocabulary": "yes"}, "trim_vocabulary"),
    ({"try_all": 1}, "try_all"),
    ({"patience": 0}, "patience"),
    ({"sequence_length": 0}, "sequence_length"),
])
def test_bad_config_names_the_argument(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        CompressConfig(**kwargs)


def test_validation_is_carved_per_intent_seeded_when_missing(tiny_bert_preset, tmp_path):
    from keras_compress.recipes import text_classifier

    texts = [f"message {i}" for i in range(40)]
    intents = ["a"] * 20 + ["b"] * 20
    data = {"train": (texts, intents), "test": (texts[:4], intents[:4])}
    config = CompressConfig(validation_fraction=0.2, seed=3)
    first, names, note = text_classifier._load_data(data, config)
    again, _, _ = text_classifier._load_data(data, config)
    assert "carved from the training data, 20% of each intent (seed 3)" in note
    assert names == ["a", "b"] and len(first["valid"][0]) == 8
    assert sorted(first["valid"][1].tolist()) == [0] * 4 + [1] * 4
    assert first["valid"][0] == again["valid"][0]
    assert not set(first["valid"][0]) & set(first["train"][0])


def test_test_intents_missing_from_train_are_refused_before_any_work(tmp_path):
    data = {"train": (["a", "b"], ["x", "y"]), "valid": (["c"], ["x"]), "test": (["d"], ["z"])}
    with pytest.raises(ValueError, match="not in the training data"):
        compress_text_classifier(data, tmp_path / "out", teacher="no-such-preset")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_f1_change_compares_the_same_timed_messages():
    """With `timing_messages`, the chosen export and the Keras teacher are scored on the
    same first messages, not the subset against the whole test split."""
    import numpy as np

    from keras_compress.bench import time_messages
    from keras_compress.recipes.report import REFERENCE, CompressReport

    labels = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    answers = {  # class 0 or 1 per message: the reference errs on one timed message
        REFERENCE: [0, 1, 0, 0, 0, 1, 0, 1], "teacher": [0, 1, 0, 1, 1, 1, 1, 1],
        "2L": [0, 1, 0, 1, 0, 0, 0, 0]}

    class Fixed:
        def __init__(self, name):
            self.name = name

        def __call__(self, text):
            return np.eye(2)[answers[self.name][int(text)]]

    texts = [str(i) for i in range(4)]  # the first 4 of the 8 test messages are timed
    timings = time_messages([Fixed(name) for name in answers], texts, warmup=0, progress=False)
    two = type("Candidate", (), {"name": "2L"})()
    scores = {"valid_macro_f1": 0.9, "valid_accuracy": 0.9, "test_macro_f1": 0.5,
              "test_accuracy": 0.5}
    report = CompressReport.build(
        teacher=scores, tried=[{"candidate": two, "within_budget": True, **scores}],
        chosen=two, exports={"teacher": {"bytes": 4e6}, "2L": {"bytes": 1e6}}, timings=timings,
        labels=labels, config=CompressConfig(), note="", machine={}, teacher_bytes=8e6,
        seconds=1.0, length=16, data="fake")
    # 2L is right on all 4 timed messages (F1 1.0); the reference on 3 of them: F1 of
    # class 0 is 2*2/(2*2+1) = 0.8, of class 1 2/(2+1) = 0.667, macro 0.733.
    assert report.teacher["timed_test_macro_f1"] == pytest.approx(0.7333, abs=1e-4)
    assert report.macro_f1_change_points == pytest.approx(100 - 73.333, abs=1e-2)
    assert report.macro_f1_change_points != pytest.approx(100 * (1.0 - 0.5))  # the old bug


# --- the whole job, through the command line -------------------------------------------


@pytest.fixture(scope="module")
def compress_run(tiny_bert_preset, tmp_path_factory):
    out = tmp_path_factory.mktemp("compress") / "out"
    code = cli.main(["compress", "--data", str(DATA), "--preset", str(tiny_bert_preset),
                     "--out", str(out), "--teacher-epochs", "2", "--student-epochs", "2",
                     "--max-steps", "3", "--max-drop", "100", "--timing-messages", "12",
                     "--trim-vocabulary", "--quiet"])
    return code, out


def test_compress_writes_the_model_report_and_plot(compress_run):
    code, out = compress_run
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    for key in ("speedup_median", "speedup_mean", "macro_f1_change_points", "size_ratio",
                "candidates", "chosen", "speedup_vs_teacher_export"):
        assert key in report, key
    assert "padded to" in report["settings"]["reference"]
    # a 100-point budget: the cheapest default candidate (for the 2-layer teacher, "2L") holds
    tried = [c for c in report["candidates"] if c["tried"]]
    assert report["chosen"] == tried[0]["name"] == "2L" and tried[0]["within_budget"]
    teacher = next(c for c in report["candidates"] if c["name"] == "teacher")
    assert teacher["test_f1_vs_teacher_export_points"] == [0.0, 0.0, 0.0]
    for row in report["candidates"]:
        difference, low, high = row["test_f1_vs_teacher_export_points"]
        assert low <= difference <= high
        assert abs(difference - 100 * (row["tflite_test_macro_f1"]
                                       - teacher["tflite_test_macro_f1"])) < 1e-6
    for row in tried:  # students stop early on validation macro-F1; --student-epochs 2
        if row["name"] != "teacher":
            assert 1 <= row["best_epoch"] <= row["epochs"] <= 2
    assert (out / "accuracy_vs_latency.png").stat().st_size > 1000
    assert not [p for p in out.iterdir() if p.name.startswith(".exports-")]


def test_the_training_length_holds_99_percent_of_the_training_messages(compress_run,
                                                                       tiny_bert_preset):
    import keras_hub
    import numpy as np

    _, out = compress_run
    report = json.loads((out / "report.json").read_text())
    length = report["settings"]["training_length"]
    grid = report["settings"]["config"]["sequence_lengths"]
    tokenizer = keras_hub.models.BertTokenizer.from_preset(str(tiny_bert_preset))
    from keras_compress.data import load_splits

    texts = load_splits(DATA, seed=CompressConfig().seed)["train"][0]
    counts = np.array([len(tokenizer(t)) + 2 for t in texts])
    assert length in grid and np.mean(counts <= length) >= 0.99
    shorter = [n for n in grid if n < length]
    assert not shorter or np.mean(counts <= shorter[-1]) < 0.99


def test_the_exported_model_runs_from_its_files(compress_run, tiny_bert_preset):
    import keras_hub

    from keras_compress.export import TFLiteClassifier

    _, out = compress_run
    classifier = TFLiteClassifier(out / "model.tflite")
    prediction = classifier.predict(["hello there"])
    preset = keras_hub.models.BertTokenizer.from_preset(str(tiny_bert_preset))
    assert classifier.tokenizer.vocabulary_size() < preset.vocabulary_size()  # --trim-vocabulary
    intents = {json.loads(line)["intent"] for line in DATA.read_text().splitlines()}
    assert prediction.labels[0] in intents


def test_a_second_run_into_the_same_folder_is_refused_and_changes_nothing(compress_run, capsys):
    _, out = compress_run
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    code = cli.main(["compress", "--data", str(DATA), "--preset", "unused", "--out", str(out)])
    assert code == 2
    assert "already holds" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


@pytest.mark.parametrize("argv, message", [
    (["--max-drop", "-1"], "--max-drop"),
    (["--student-epochs", "0"], "--student-epochs"),
    (["--data", "no/such/path"], "no such file"),
])
def test_bad_command_lines_are_one_line_errors(argv, message, tmp_path, capsys):
    base = {"--data": str(DATA), "--out": str(tmp_path / "o")}
    for flag in argv[::2]:
        base.pop(flag, None)
    args = ["compress"] + [x for pair in base.items() for x in pair] + argv
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_a_preset_that_is_not_a_text_classifier_is_refused(tmp_path, capsys):
    (tmp_path / "not_a_preset").mkdir()
    code = cli.main(["compress", "--data", str(DATA), "--preset", str(tmp_path / "not_a_preset"),
                     "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and "is not a keras-hub text classifier" in err


def test_length_bucketed_batches_feed_only_the_models_own_inputs():
    import keras
    import keras_hub
    import numpy as np

    from keras_compress.recipes import batches

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "bye"]
    preprocessor = keras_hub.models.DistilBertTextClassifierPreprocessor(
        keras_hub.models.DistilBertTokenizer(vocabulary=vocab), sequence_length=16)
    backbone = keras_hub.models.DistilBertBackbone(vocabulary_size=len(vocab), num_layers=1,
                                                   num_heads=2, hidden_dim=8,
                                                   intermediate_dim=16, max_sequence_length=16)
    model = keras_hub.models.DistilBertTextClassifier(backbone, 2, preprocessor=preprocessor)
    texts = ["hello"] * 6 + ["bye " * 9] * 3
    data = batches.length_bucketed(model, texts, np.arange(9) % 2, batch_size=4,
                                   lengths=(8, 16), seed=0)
    seen = [(sorted(x), x["token_ids"].shape[1]) for x, _ in data]
    assert all(keys == ["padding_mask", "token_ids"] for keys, _ in seen)  # no segment_ids
    assert sorted(length for _, length in seen) == [8, 8, 16]
    fitting = batches.trainer(model)
    fitting.compile(optimizer="adam",
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.numpy().copy() for w in model.trainable_weights]
    fitting.fit(data, epochs=1, verbose=0, shuffle=False)
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(before, model.trainable_weights))


def test_the_teacher_fallback_with_trimmed_vocabulary_and_every_model_saved(
        tiny_bert_preset, tmp_path):
    config = CompressConfig(candidates=(Candidate("1L", num_layers=1),), max_drop=0.0,
                            try_all=True, trim_vocabulary=True, teacher_epochs=1,
                            student_epochs=1, max_steps=2, timing_messages=4,
                            sequence_lengths=(8, 16))
    report = compress_text_classifier(DATA, tmp_path / "out", str(tiny_bert_preset), config,
                                      save_models=True, progress=False, log=lambda line: None)
    assert sorted(c["name"] for c in report.candidates if c["tried"]) == ["1L", "teacher"]
    assert {p.name for p in (tmp_path / "out" / "models").iterdir()} == {
        "teacher.keras", "teacher_trimmed.keras", "1L.keras"}


def test_a_candidate_makes_its_student_with_capped_layers_and_a_share_of_the_ffn():
    import keras_hub

    backbone = keras_hub.models.BertBackbone(vocabulary_size=10, num_layers=2, num_heads=2,
                                             hidden_dim=8, intermediate_dim=16,
                                             max_sequence_length=8)
    teacher = keras_hub.models.BertTextClassifier(backbone, 3, preprocessor=None)
    student = Candidate("3L_ffn25", num_layers=3, intermediate_dim_fraction=0.25) \
        .make_student(teacher)
    layers = student.backbone.transformer_layers
    assert len(layers) == 2  # capped at the teacher's
    assert [layer._feedforward_intermediate_dense.units for layer in layers] == [4, 4]
    assert Candidate("teacher").make_student(teacher) is teacher
