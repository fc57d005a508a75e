"""Reading labelled intent data: JSON Lines, Rasa NLU YAML or CSV, and splitting it.

Three formats, chosen by the file's suffix:

- `.jsonl`: one `{"text": ..., "intent": ...}` object per line;
- `.yml` / `.yaml`: Rasa NLU training data (`nlu:` entries with `intent:` and an
  `examples: |` block of `- text` lines; entity annotations such as
  `[Berlin](city)` are reduced to their text);
- `.csv`: a header row with `text` and `intent` columns (others are ignored).

Every problem is reported as a `ValueError` (or `FileNotFoundError`) whose message
names the file, and the line where there is one.
"""

import csv
import json
import pathlib
import random
import re

SPLITS = ("train", "valid", "test")
FORMATS = {".jsonl": "jsonl", ".yml": "rasa", ".yaml": "rasa", ".csv": "csv"}

# [text](entity), [text]{"entity": ...} and [text][...] (Rasa entity annotations).
_ENTITY = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\}|\[[^\]]*\])")


def load_intents(path, format=None):
    """Reads labelled messages from a `.jsonl`, Rasa NLU `.yml`/`.yaml` or `.csv` file.

    Args:
        path: the file.
        format: `"jsonl"`, `"rasa"` or `"csv"`; default: from the file's suffix.

    Returns:
        `(texts, intents)`, two lists of strings.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: an unknown format, an empty file or a malformed entry; the
            message names the file (and line, where there is one).

    Example:

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "train.jsonl"
    >>> _ = path.write_text('{"text": "hi", "intent": "greet"}\\n')
    >>> load_intents(path)
    (['hi'], ['greet'])
    """
    path = pathlib.Path(path)
    if format is None:
        format = FORMATS.get(path.suffix.lower())
        if format is None:
            raise ValueError(
                f"{path}: unknown data format {path.suffix or '(no suffix)'!r}; expected "
                f"one of {', '.join(FORMATS)}."
            )
    readers = {"jsonl": _read_jsonl, "rasa": _read_rasa_yaml, "csv": _read_csv}
    if format not in readers:
        raise ValueError(f"`format` must be one of {', '.join(readers)}; received {format!r}.")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, expected a data file.")
    if not path.is_file():
        raise FileNotFoundError(f"Intent data file not found: {path}")
    texts, intents = readers[format](path)
    if not texts:
        raise ValueError(f"{path}: no examples (the file is empty).")
    return texts, intents


def _check_row(path, where, text, intent):
    if not isinstance(text, str) or not isinstance(intent, str):
        raise ValueError(f"{path}:{where}: 'text' and 'intent' must be non-empty strings.")
    if not text.strip() or not intent.strip():
        raise ValueError(f"{path}:{where}: 'text' and 'intent' must be non-empty strings.")


def _read_jsonl(path):
    texts, intents = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text, intent = row["text"], row["intent"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(
                f"{path}:{number}: expected a JSON object with 'text' and 'intent' ({error})."
            ) from error
        _check_row(path, number, text, intent)
        texts.append(text)
        intents.append(intent)
    return texts, intents


def _read_csv(path):
    texts, intents = [], []
    with path.open(encoding="utf-8-sig", newline="") as file:
        reader = csv.DictReader(file)
        columns = [name.strip().lower() for name in reader.fieldnames or []]
        if not columns:
            return texts, intents
        if "text" not in columns or "intent" not in columns:
            raise ValueError(
                f"{path}:1: expected a header row with 'text' and 'intent' columns; "
                f"found {', '.join(repr(c) for c in reader.fieldnames)}."
            )
        reader.fieldnames = columns
        try:
            for row in reader:
                if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
                    continue  # a blank line
                text, intent = row["text"], row["intent"]
                _check_row(path, reader.line_num, text, intent)
                texts.append(text.strip())
                intents.append(intent.strip())
        except csv.Error as error:
            raise ValueError(f"{path}:{reader.line_num}: malformed CSV ({error}).") from error
    return texts, intents


def _read_rasa_yaml(path):
    try:
        import yaml
    except ImportError as error:  # PyYAML comes with keras-hub's dependencies
        raise ImportError(f"{path}: reading Rasa YAML needs PyYAML (pip install pyyaml).") from error
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(f"{path}{where}: not valid YAML ({problem}).") from error
    if document is None:
        return [], []
    if not isinstance(document, dict) or "nlu" not in document:
        raise ValueError(f"{path}: expected Rasa NLU data with an 'nlu:' list of intents.")
    entries = document["nlu"] or []
    if not isinstance(entries, list):
        raise ValueError(f"{path}: 'nlu:' must be a list of '- intent: ...' entries.")
    texts, intents = [], []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or "intent" not in entry:
            continue  # synonym:, regex:, lookup: entries carry no labelled examples
        intent = entry["intent"]
        where = f"nlu entry {number} (intent {intent!r})"
        if not isinstance(intent, str) or not intent.strip():
            raise ValueError(f"{path}: {where}: 'intent' must be a non-empty string.")
        for text in _rasa_examples(path, where, entry.get("examples")):
            texts.append(text)
            intents.append(intent.strip())
    return texts, intents


def _rasa_examples(path, where, examples):
    """The example texts of one Rasa `intent:` entry, entity annotations removed."""
    if examples is None:
        raise ValueError(f"{path}: {where}: no 'examples:'.")
    if isinstance(examples, str):
        items = []
        for line in examples.splitlines():
            line = line.strip()
            if not line:
                continue
            if not line.startswith("- "):
                raise ValueError(
                    f"{path}: {where}: example lines must start with '- '; got {line[:60]!r}."
                )
            items.append(line[2:])
    elif isinstance(examples, list):  # the long form: - text: ... (metadata: ...)
        items = [item.get("text") if isinstance(item, dict) else item for item in examples]
    else:
        raise ValueError(f"{path}: {where}: 'examples' must be a '|' block of '- text' lines.")
    texts = []
    for item in items:
        if not isinstance(item, str) or not _ENTITY.sub(r"\1", item).strip():
            raise ValueError(f"{path}: {where}: every example must be a non-empty text.")
        texts.append(_ENTITY.sub(r"\1", item).strip())
    return texts


def split_per_intent(texts, intents, seed=0, fractions=(0.7, 0.1, 0.2)):
    """Splits labelled messages into train, valid and test, within each intent.

    Each intent's messages are shuffled (reproducibly, with `seed`) and cut by
    `fractions`; every intent keeps at least one training message.

    Returns:
        `{"train": (texts, intents), "valid": ..., "test": ...}`.

    Example:

    >>> splits = split_per_intent([f"m{i}" for i in range(10)], ["a"] * 10, seed=1)
    >>> [len(splits[name][0]) for name in ("train", "valid", "test")]
    [7, 1, 2]
    """
    by_intent = {}
    for text, intent in zip(texts, intents, strict=True):
        by_intent.setdefault(intent, []).append(text)
    rng = random.Random(seed)
    splits = {name: ([], []) for name in SPLITS}
    for intent in sorted(by_intent):
        group = by_intent[intent]
        rng.shuffle(group)
        n_test = round(fractions[2] * len(group))
        n_valid = round(fractions[1] * len(group))
        n_train = max(1, len(group) - n_test - n_valid)
        parts = {
            "train": group[:n_train],
            "valid": group[n_train : n_train + n_valid],
            "test": group[n_train + n_valid :],
        }
        for name, part in parts.items():
            splits[name][0].extend(part)
            splits[name][1].extend([intent] * len(part))
    return splits


def find_split_files(folder):
    """`{split: path}` of the `train`, `valid` and `test` files in `folder`.

    Each is `<split>.jsonl`, `.yml`, `.yaml` or `.csv`; `train` and `test` are
    required, `valid` is optional.
    """
    folder = pathlib.Path(folder)
    files = {}
    for name in SPLITS:
        found = [folder / f"{name}{suffix}" for suffix in FORMATS if (folder / f"{name}{suffix}").is_file()]
        if len(found) > 1:
            raise ValueError(f"{folder}: more than one {name} file: {', '.join(p.name for p in found)}.")
        if found:
            files[name] = found[0]
        elif name != "valid":
            raise FileNotFoundError(
                f"{folder}: no {name} file ({name}.jsonl, {name}.yml, {name}.yaml or {name}.csv)."
            )
    return files


def load_splits(path, seed=0, fractions=(0.7, 0.1, 0.2)):
    """Train, valid and test messages from one file or a folder of split files.

    A file (any format of `load_intents`) is split per intent with
    `split_per_intent(seed, fractions)`; a folder holds `train`, `test` and
    optionally `valid` files (see `find_split_files`).

    Returns:
        `{"train": (texts, intents), "valid": ..., "test": ...}` (`valid` may
        be empty).

    Raises:
        FileNotFoundError: `path`, or a required split file, does not exist.
        ValueError: a file is empty or malformed, the training data has fewer
            than two intents, or `valid` / `test` hold intents that `train`
            lacks (the model could never predict them); the message names the
            file.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        files = find_split_files(path)
        splits = {name: load_intents(file) for name, file in files.items()}
        splits.setdefault("valid", ([], []))
    elif path.exists():
        splits = split_per_intent(*load_intents(path), seed=seed, fractions=fractions)
        files = {name: path for name in SPLITS}
    else:
        raise FileNotFoundError(f"Intent data not found: {path}")
    check_splits(splits, files)
    return {name: splits[name] for name in SPLITS}


def check_splits(splits, files):
    """Refuses training data with fewer than two intents, and `valid` / `test` intents that
    `train` lacks (the model could never predict them). `files`: `{split: path}` named in
    the messages, or one name for all splits.

    >>> check_splits({"train": (["a", "b"], ["x", "y"]), "valid": ([], []),
    ...               "test": (["c"], ["z"])}, "data")
    Traceback (most recent call last):
    ...
    ValueError: data: 1 intent not in the training data ('z'); every test intent needs training examples.
    """
    if not isinstance(files, dict):
        files = {name: files for name in SPLITS}
    known = set(splits["train"][1])
    if len(known) < 2:
        raise ValueError(
            f"{files['train']}: the training data has {len(known)} intent"
            f"{'' if len(known) == 1 else 's'}; a classifier needs at least two."
        )
    for name in ("valid", "test"):
        unknown = sorted(set(splits[name][1]) - known)
        if unknown:
            shown = ", ".join(repr(i) for i in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
            raise ValueError(
                f"{files[name]}: {len(unknown)} intent{'s' if len(unknown) > 1 else ''} not in "
                f"the training data ({shown}); every {name} intent needs training examples."
            )
