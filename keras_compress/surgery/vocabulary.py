"""`trim_vocabulary`: a text classifier whose tokenizer and token embedding keep only the
tokens its data uses.

The token embedding is about half of a MiniLM-sized model's weights (30,522 rows of
384), most of them for tokens an intent classifier never sees. Trimming keeps the rows
of the tokens that the given texts produce (plus the special tokens and, by default,
the single-character pieces), and gives the tokenizer the same smaller vocabulary.

WordPiece matches the longest piece in its vocabulary first, so every text whose pieces
were all kept is split exactly as before and gets exactly the same output. A word with
a piece that was dropped is split into the kept pieces that remain (single characters
at worst), or becomes `[UNK]` if none fit: only such words can change an answer, and
the macro-F1 this costs is measured on held-out data, as for every other method.
"""

import keras
import numpy as np

from keras_compress import checks
from keras_compress.layers.base import CompressedLayer

_OWNER = "trim_vocabulary"


def trim_vocabulary(model, texts, *, keep_characters=True):
    """A copy of the keras-hub text classifier `model` with only the tokens of `texts`.

    `model` is not modified. The copy has a new tokenizer (the kept tokens, in their old
    order, so `[PAD]` stays id 0) and a token embedding of the kept rows; every other
    weight is copied. It is not compiled. Supported: keras-hub classifiers with a
    WordPiece tokenizer (BERT, DistilBERT, ELECTRA, MiniLM) and no compression layers
    swapped in (trim before `swap_layers`, or after `strip`).

    Args:
        model: a `keras_hub.models.TextClassifier` with a preprocessor.
        texts: the messages whose tokens to keep (e.g. the training split); strings.
        keep_characters: also keep every single-character piece of the vocabulary
            (`"a"`, `"##a"`, ...) that is ASCII, so that unseen words are spelt out in
            characters instead of becoming `[UNK]`.

    Returns:
        A new model of the same class.

    Example:

    >>> import keras_hub
    >>> words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "book", "a", "demo", "bye"]
    >>> tokenizer = keras_hub.models.BertTokenizer(vocabulary=words)
    >>> backbone = keras_hub.models.BertBackbone(vocabulary_size=len(words), num_layers=1,
    ...     num_heads=1, hidden_dim=8, intermediate_dim=16, max_sequence_length=8)
    >>> model = keras_hub.models.BertTextClassifier(backbone, 2,
    ...     preprocessor=keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=8))
    >>> small = trim_vocabulary(model, ["book a demo"], keep_characters=False)
    >>> small.preprocessor.tokenizer.get_vocabulary()
    ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'book', 'a', 'demo']
    >>> bool(np.allclose(small.predict(["book a demo"], verbose=0),
    ...                  model.predict(["book a demo"], verbose=0), atol=1e-6))
    True
    """
    tokenizer = _check(model, texts, keep_characters)
    kept = kept_token_ids(tokenizer, texts, keep_characters=keep_characters)
    return _rebuilt(model, tokenizer, kept)


def kept_token_ids(tokenizer, texts, *, keep_characters=True):
    """Sorted ids that `trim_vocabulary` keeps: those of `texts`, the special tokens and
    (with `keep_characters`) the ASCII single-character pieces."""
    ids = tokenizer(list(texts))
    seen = set(np.concatenate([np.asarray(row).ravel() for row in _rows(ids)] or [[]]).astype(int))
    vocabulary = tokenizer.get_vocabulary()
    special = set(getattr(tokenizer, "special_tokens", None) or [])
    special.add(getattr(tokenizer, "oov_token", "[UNK]"))
    suffix = getattr(tokenizer, "suffix_indicator", "##")
    for index, token in enumerate(vocabulary):
        piece = token[len(suffix):] if token.startswith(suffix) else token
        if token in special or (keep_characters and len(piece) == 1 and piece.isascii()):
            seen.add(index)
    return np.array(sorted(seen), dtype="int64")


def _rows(ids):
    if hasattr(ids, "to_list"):
        return ids.to_list()
    return list(ids)


def _check(model, texts, keep_characters):
    import keras_hub

    checks.check_type("model", model, keras_hub.models.TextClassifier,
                      "a keras_hub.models.TextClassifier", _OWNER)
    preprocessor = getattr(model, "preprocessor", None)
    tokenizer = getattr(preprocessor, "tokenizer", None)
    if tokenizer is None:
        raise ValueError(f"{_OWNER}: `model` has no preprocessor with a tokenizer; the "
                         "tokenizer's vocabulary is what is trimmed.")
    if not isinstance(tokenizer, keras_hub.tokenizers.WordPieceTokenizer):
        raise ValueError(
            f"{_OWNER}: `model`'s tokenizer is a {type(tokenizer).__name__}; only WordPiece "
            "tokenizers (BERT, DistilBERT, ELECTRA, MiniLM) can be trimmed, because only "
            "WordPiece splits every kept text the same way with a smaller vocabulary.")
    if getattr(model.backbone, "token_embedding", None) is None:
        raise ValueError(f"{_OWNER}: `model.backbone` has no `token_embedding` layer.")
    swapped = [layer.path for layer in model._flatten_layers() if isinstance(layer, CompressedLayer)]
    if swapped:
        raise ValueError(
            f"{_OWNER}: `model` holds compression layers ({', '.join(swapped[:3])}"
            f"{', ...' if len(swapped) > 3 else ''}); trim before `swap_layers` or after `strip`.")
    if isinstance(texts, str) or not hasattr(texts, "__iter__"):
        raise TypeError(f"{_OWNER}: `texts` must be a list of strings; received {type(texts).__name__}.")
    texts = list(texts)
    if not texts or not all(isinstance(text, str) for text in texts):
        raise ValueError(f"{_OWNER}: `texts` must be a non-empty list of strings.")
    if not isinstance(keep_characters, bool):
        raise TypeError(f"{_OWNER}: `keep_characters` must be True or False; received "
                        f"{keep_characters!r}.")
    return tokenizer


def _rebuilt(model, tokenizer, kept):
    """The copy: new tokenizer, preprocessor, backbone and task; weights copied."""
    vocabulary = tokenizer.get_vocabulary()
    new_tokenizer = type(tokenizer).from_config(
        {**tokenizer.get_config(), "vocabulary": [vocabulary[i] for i in kept]})
    preprocessor = model.preprocessor
    new_preprocessor = type(preprocessor).from_config(
        {**preprocessor.get_config(), "tokenizer": new_tokenizer})
    backbone = model.backbone
    new_backbone = type(backbone).from_config(
        {**backbone.get_config(), "vocabulary_size": int(len(kept))})
    new_model = type(model).from_config(
        {**model.get_config(), "backbone": new_backbone, "preprocessor": new_preprocessor})
    table = backbone.token_embedding.embeddings
    old, new = list(model.weights), list(new_model.weights)
    if len(old) != len(new):
        raise ValueError(f"{_OWNER}: the rebuilt model has {len(new)} weights, `model` "
                         f"{len(old)}; is `model` built from its own config?")
    for source, target in zip(old, new):
        value = keras.ops.convert_to_numpy(source)
        if source is table:
            value = value[kept]
        if tuple(value.shape) != tuple(target.shape):
            raise ValueError(f"{_OWNER}: weight {source.path} has shape {value.shape} but the "
                             f"rebuilt model's {target.path} has {tuple(target.shape)}.")
        target.assign(value)
    return new_model
