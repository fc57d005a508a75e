"""From text (or already packed token ids) to the model's packed integer inputs."""

import numpy as np

from keras_compress.export import buckets


def resolve_tokenizer(tokenizer):
    """A keras-hub tokenizer from a tokenizer, a preprocessor or a preset path.

    Returns `None` for `None`. Raises `TypeError` for anything else.
    """
    if tokenizer is None:
        return None
    if isinstance(tokenizer, str):
        import keras_hub

        return keras_hub.tokenizers.Tokenizer.from_preset(tokenizer)
    inner = getattr(tokenizer, "tokenizer", None)  # a keras-hub preprocessor
    if inner is not None:
        tokenizer = inner
    if not callable(tokenizer):
        raise TypeError(
            "`tokenizer` must be a keras-hub tokenizer, a preprocessor that has "
            f"one, or a preset path; received {type(tokenizer).__name__}."
        )
    return tokenizer


def tokenizer_dir(path):
    """Where `to_tflite` saves the tokenizer of the `.tflite` at `path`: `<path>.tokenizer/`."""
    import pathlib

    path = pathlib.Path(path)
    return path.with_name(path.name + ".tokenizer")


def save_tokenizer(tokenizer, directory):
    """Writes a keras-hub `tokenizer` into `directory` as in a preset (tokenizer.json, assets/).

    A directory that exists is replaced only if it holds a saved tokenizer.
    """
    import pathlib
    import shutil

    directory = pathlib.Path(directory)
    if directory.exists():
        if not (directory / "tokenizer.json").is_file():
            raise FileExistsError(
                f"{directory} exists and is not a saved tokenizer; remove it or export elsewhere."
            )
        shutil.rmtree(directory)
    tokenizer.save_to_preset(str(directory))


def load_tokenizer(directory):
    """The keras-hub tokenizer saved by `save_tokenizer` (or any keras-hub preset folder)."""
    import json
    import pathlib

    import keras

    directory = pathlib.Path(directory)
    if (directory / "config.json").is_file():  # a full keras-hub preset
        import keras_hub

        return keras_hub.tokenizers.Tokenizer.from_preset(str(directory))
    config = directory / "tokenizer.json"
    if not config.is_file():
        raise FileNotFoundError(
            f"no tokenizer in {directory}: expected tokenizer.json (written by to_tflite "
            "beside the .tflite) or a keras-hub preset."
        )
    tokenizer = keras.saving.deserialize_keras_object(json.loads(config.read_text("utf-8")))
    tokenizer.load_preset_assets(str(directory))
    return tokenizer


def special_ids(tokenizer):
    """`(start_id, end_id, pad_id)` of a BERT-style tokenizer ([CLS], [SEP], [PAD])."""
    start = _first_attr(tokenizer, ("cls_token_id", "start_token_id"))
    end = _first_attr(tokenizer, ("sep_token_id", "end_token_id"))
    pad = _first_attr(tokenizer, ("pad_token_id",), default=0)
    if start is None or end is None:
        raise ValueError(
            f"Tokenizer {type(tokenizer).__name__} has no [CLS]/[SEP] (or start/end) "
            "token ids; a BERT-style tokenizer is needed to pack text."
        )
    return int(start), int(end), int(pad)


def check_texts(texts, argument="texts"):
    """`texts` as a list of strings; a single string becomes a list of one."""
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, np.ndarray):
        texts = texts.tolist()
    if not isinstance(texts, (list, tuple)):
        raise TypeError(
            f"`{argument}` must be a string or a list of strings; "
            f"received {type(texts).__name__}."
        )
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f"`{argument}` must contain strings only; item {index} is "
                f"{type(text).__name__} ({text!r})."
            )
    return list(texts)


def tokenize(tokenizer, texts):
    """Token-id lists (no special tokens) for a list of strings."""
    if not texts:
        return []
    ids = tokenizer(texts)
    if hasattr(ids, "to_list"):  # tf.RaggedTensor
        ids = ids.to_list()
    return [np.asarray(row).reshape(-1).tolist() for row in ids]


def pack_texts(tokenizer, texts, length):
    """Packed inputs of `length` positions for `texts`, as the model sees them."""
    start, end, pad = special_ids(tokenizer)
    return buckets.pack_tokens(tokenize(tokenizer, texts), length, start, end, pad)


def as_packed(data, tokenizer, length, argument):
    """Text or packed inputs as a dict of `(n, length)` int32 arrays.

    `data` is a list of strings (needs `tokenizer`) or a dict with at least
    `token_ids` and `padding_mask` arrays of shape `(n, any length)`.
    """
    if isinstance(data, dict):
        missing = {"token_ids", "padding_mask"} - set(data)
        if missing:
            raise ValueError(
                f"`{argument}` as a dict needs the keys token_ids and padding_mask (packed "
                f"arrays); missing {sorted(missing)} (received keys {sorted(map(str, data))}). "
                "For text, pass a list of strings."
            )
        arrays = {name: np.asarray(value) for name, value in data.items()}
        for name, value in arrays.items():
            integer = np.issubdtype(value.dtype, np.integer) or value.dtype == bool
            if value.ndim != 2 or not integer:
                raise ValueError(
                    f"`{argument}['{name}']` must be a (samples, sequence) integer array; "
                    f"received shape {value.shape}, dtype {value.dtype}."
                )
        shapes = {name: value.shape for name, value in arrays.items()}
        if len(set(shapes.values())) != 1:
            raise ValueError(
                f"`{argument}`: the packed arrays must have one shape; received {shapes}."
            )
        if not len(arrays["token_ids"]):
            raise ValueError(f"`{argument}` has no samples.")
        if "segment_ids" not in arrays:
            arrays["segment_ids"] = np.zeros_like(arrays["token_ids"])
        return buckets.repack(arrays, length)
    if isinstance(data, tuple) and len(data) == 2 and not isinstance(data[0], str):
        raise TypeError(
            f"`{argument}` must be texts (a list of strings) or a dict of packed arrays; "
            "received a pair, e.g. (texts, labels): pass the texts only."
        )
    if not isinstance(data, (str, list, tuple, np.ndarray)):
        raise TypeError(
            f"`{argument}` must be texts (a list of strings) or a dict of packed token_ids / "
            f"padding_mask arrays; received {type(data).__name__}."
        )
    texts = check_texts(data, argument)
    if not texts:
        raise ValueError(f"`{argument}` has no texts.")
    if tokenizer is None:
        raise ValueError(
            f"`{argument}` is text, but the model has no preprocessor to tokenize it. "
            "Pass packed inputs (a dict of token_ids, segment_ids, padding_mask arrays) "
            "or a model with a keras-hub preprocessor."
        )
    return pack_texts(tokenizer, texts, length)


def random_packed(sequence_lengths, vocabulary_size, per_bucket=8, seed=0):
    """Random packed inputs whose real lengths fall in every bucket.

    Example:

    >>> x = random_packed((8, 16), vocabulary_size=100, per_bucket=2)
    >>> x["token_ids"].shape, sorted((buckets.real_lengths(x) > 8).tolist())
    ((4, 16), [False, False, True, True])
    """
    rng = np.random.default_rng(seed)
    rows, previous = [], 2
    for bucket in sequence_lengths:
        for _ in range(per_bucket):
            rows.append(int(rng.integers(previous + 1, bucket + 1)))
        previous = bucket
    length = max(sequence_lengths)
    token_ids = rng.integers(1, max(vocabulary_size, 2), (len(rows), length)).astype("int32")
    padding_mask = (np.arange(length)[None, :] < np.asarray(rows)[:, None]).astype("int32")
    return {
        "token_ids": token_ids * padding_mask,
        "segment_ids": np.zeros_like(token_ids),
        "padding_mask": padding_mask,
    }


def _first_attr(obj, names, default=None):
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return default
