"""Reading intent data: JSON Lines, Rasa NLU YAML, CSV; splits and their checks."""

import pathlib

import pytest

from keras_compress.data import load_intents, load_splits, split_per_intent

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples" / "data"

RASA = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hey
    - hello there
- intent: book_table
  examples: |
    - a table for [two](people) in [Berlin]{"entity": "city"}
    - book a table
- synonym: Berlin
  examples: |
    - berlin
- regex: zipcode
  examples: |
    - [0-9]{5}
"""


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_rasa_yaml_reads_intents_and_strips_entity_annotations(tmp_path):
    texts, intents = load_intents(write(tmp_path, "nlu.yml", RASA))
    assert texts == ["hey", "hello there", "a table for two in Berlin", "book a table"]
    assert intents == ["greet", "greet", "book_table", "book_table"]


def test_rasa_yaml_long_form_examples(tmp_path):
    content = "nlu:\n- intent: greet\n  examples:\n  - text: hi\n    metadata: {a: 1}\n"
    assert load_intents(write(tmp_path, "nlu.yaml", content)) == (["hi"], ["greet"])


def test_csv_with_header_extra_columns_and_quotes(tmp_path):
    content = 'id,Text,intent\n1,"hi, there",greet\n\n2,book a table,book_table\n'
    texts, intents = load_intents(write(tmp_path, "data.csv", content))
    assert texts == ["hi, there", "book a table"]
    assert intents == ["greet", "book_table"]


def test_the_three_formats_agree(tmp_path):
    jsonl = write(tmp_path, "a.jsonl", '{"text": "hi", "intent": "greet"}\n'
                                       '{"text": "bye", "intent": "goodbye"}\n')
    csv = write(tmp_path, "a.csv", "text,intent\nhi,greet\nbye,goodbye\n")
    rasa = write(tmp_path, "a.yml", "nlu:\n- intent: greet\n  examples: |\n    - hi\n"
                                    "- intent: goodbye\n  examples: |\n    - bye\n")
    assert load_intents(jsonl) == load_intents(csv) == load_intents(rasa)


@pytest.mark.parametrize("name, content, match", [
    ("a.csv", "", "a.csv: no examples"),
    ("a.csv", "text,label\nhi,greet\n", r"a.csv:1: expected a header row with 'text' and 'intent'"),
    ("a.csv", "text,intent\nhi,\n", r"a.csv:2: 'text' and 'intent' must be non-empty"),
    ("a.yml", "", "a.yml: no examples"),
    ("a.yml", "nlu: [\n", r"a.yml:2: not valid YAML"),
    ("a.yml", "stories: []\n", "a.yml: expected Rasa NLU data"),
    ("a.yml", "nlu:\n- intent: greet\n", r"a.yml: nlu entry 1 \(intent 'greet'\): no 'examples:'"),
    ("a.yml", "nlu:\n- intent: greet\n  examples: |\n    hi\n", "must start with '- '"),
    ("a.yml", "nlu:\n- synonym: x\n  examples: |\n    - y\n", "a.yml: no examples"),
    ("a.txt", "hi\n", r"a.txt: unknown data format '.txt'"),
])
def test_bad_files_name_the_file_and_the_problem(tmp_path, name, content, match):
    with pytest.raises(ValueError, match=match):
        load_intents(write(tmp_path, name, content))


def test_split_per_intent_is_reproducible_and_keeps_every_intent_in_train():
    texts = [f"m{i}" for i in range(23)]
    intents = ["a"] * 20 + ["b"] * 3
    first = split_per_intent(texts, intents, seed=3)
    assert first == split_per_intent(texts, intents, seed=3)
    assert [len(first[s][0]) for s in ("train", "valid", "test")] == [16, 2, 5]
    assert set(first["train"][1]) == {"a", "b"}
    assert sorted(sum((first[s][0] for s in first), [])) == sorted(texts)


def test_load_splits_from_the_bundled_file_and_from_a_folder(tmp_path):
    splits = load_splits(EXAMPLES / "intents.jsonl", seed=2019)
    sizes = [len(splits[s][0]) for s in ("train", "valid", "test")]
    assert sum(sizes) == 200 and sizes[0] > sizes[2] > sizes[1] > 0
    write(tmp_path, "train.csv", "text,intent\nhi,greet\nbye,goodbye\n")
    write(tmp_path, "test.yml", "nlu:\n- intent: greet\n  examples: |\n    - hello\n")
    folder = load_splits(tmp_path)
    assert folder == {"train": (["hi", "bye"], ["greet", "goodbye"]), "valid": ([], []),
                      "test": (["hello"], ["greet"])}


def test_load_splits_rejects_test_intents_missing_from_train(tmp_path):
    write(tmp_path, "train.jsonl", '{"text": "hi", "intent": "greet"}\n'
                                   '{"text": "bye", "intent": "goodbye"}\n')
    write(tmp_path, "test.jsonl", '{"text": "a table", "intent": "book_table"}\n')
    with pytest.raises(ValueError, match=r"test.jsonl: 1 intent not in the training data "
                                         r"\('book_table'\)"):
        load_splits(tmp_path)


def test_load_splits_names_missing_paths_and_single_intent_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_splits(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no train file"):
        load_splits(tmp_path)
    one = write(tmp_path, "one.jsonl", '{"text": "hi", "intent": "greet"}\n' * 5)
    with pytest.raises(ValueError, match="one.jsonl: the training data has 1 intent"):
        load_splits(one)
