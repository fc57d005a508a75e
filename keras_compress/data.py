"""Reading labelled intent data (JSON Lines with `text` and `intent`)."""

import json
import pathlib


def load_intents(path):
    """Reads a JSON Lines file of `{"text": ..., "intent": ...}` rows.

    Returns `(texts, intents)`, two lists of strings. Raises `ValueError`
    naming the file and line for an empty file or a malformed row.

    Example:

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "train.jsonl"
    >>> _ = path.write_text('{"text": "hi", "intent": "greet"}\\n')
    >>> load_intents(path)
    (['hi'], ['greet'])
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Intent data file not found: {path}")
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
        if not isinstance(text, str) or not isinstance(intent, str) or not text.strip():
            raise ValueError(f"{path}:{number}: 'text' and 'intent' must be non-empty strings.")
        texts.append(text)
        intents.append(intent)
    if not texts:
        raise ValueError(f"{path}: no examples (the file is empty).")
    return texts, intents
