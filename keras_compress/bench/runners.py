"""Runners: one message (batch 1) in, its 1-D logits out, behind one small protocol.

A runner may split its call in two: `prepare(text)` (tokenize and pack, not timed by
`time_messages` unless asked) and `run(prepared)` (the model, timed). `__call__(text)` is
always `run(prepare(text))`.
"""

import pathlib
import typing

import keras
import numpy as np
import tensorflow as tf

from keras_compress.export import TFLiteClassifier, buckets, tokens


@typing.runtime_checkable
class Runner(typing.Protocol):
    """What `time_messages` times: a `name` and a call from one text to its logits.

    Optional: `prepare(text)` and `run(prepared)`, with `__call__(text) ==
    run(prepare(text))`; `time_messages` then times `run` alone (the model) and
    reports `prepare` (tokenization) apart.
    """

    name: str

    def __call__(self, text: str) -> np.ndarray: ...


class FunctionRunner:
    """Any function as a runner: `run(prepared) -> logits`, timed; `prepare(text)` (default:
    the text itself) gives its input, untimed. For models outside Keras and `to_tflite`
    (ONNX Runtime, a raw LiteRT signature, an eager call).

    Example:

    >>> runner = FunctionRunner(lambda ids: np.eye(3)[len(ids) % 3], name="length",
    ...                         prepare=str.split)
    >>> runner("a b").tolist()
    [0.0, 0.0, 1.0]
    """

    def __init__(self, run, *, name, prepare=None):
        if not callable(run) or (prepare is not None and not callable(prepare)):
            raise TypeError("`run` and `prepare` must be callables.")
        self.name = str(name)
        self.run = run
        self.prepare = prepare if prepare is not None else (lambda text: text)

    def __call__(self, text):
        return self.run(self.prepare(text))

    def __repr__(self):
        return f"FunctionRunner(name={self.name!r})"


class _TextRunner:
    """Shared by the runners below: tokenize one text and pack it at `length_for(n)`."""

    def __init__(self, tokenizer, name):
        self.name = str(name)
        self.tokenizer = tokens.resolve_tokenizer(tokenizer)
        self._special = tokens.special_ids(self.tokenizer)

    def prepare(self, text):
        """The packed batch-1 inputs of `text` (a dict of `(1, length)` int32 arrays)."""
        ids = tokens.tokenize(self.tokenizer, tokens.check_texts(text, "text"))[0]
        return buckets.pack_tokens([ids], self.length_for(len(ids) + 2), *self._special)

    def __call__(self, text):
        return self.run(self.prepare(text))

    def bucket_share(self, texts):
        """`{str(length): fraction of texts}` over the lengths the texts are packed at."""
        lengths = [self.prepare(text)["token_ids"].shape[1] for text in texts]
        return {str(b): float(np.mean([n == b for n in lengths])) for b in sorted(set(lengths))}

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


class KerasRunner(_TextRunner):
    """A keras-hub text classifier served at batch 1, every message padded to
    `sequence_length` (how the 2019 system served), in a compiled `tf.function`.

    Args:
        model: a keras-hub text classifier (packed `token_ids`/`segment_ids`/
            `padding_mask` in, `(batch, classes)` out).
        sequence_length: the static length every message is padded (or cut) to.
        name: the runner's name in timings and tables.
        tokenizer: default `model.preprocessor.tokenizer`; needed when the model has no
            preprocessor.
        sequence_lengths: buckets; when given, each message runs at the smallest that
            holds it instead of `sequence_length` (one traced shape per bucket).

    Example:

    >>> import keras_hub
    >>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]
    >>> tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary)
    >>> backbone = keras_hub.models.BertBackbone(vocabulary_size=7, num_layers=1,
    ...     num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16)
    >>> model = keras_hub.models.BertTextClassifier(backbone, 3, preprocessor=None)
    >>> runner = KerasRunner(model, sequence_length=16, tokenizer=tokenizer)
    >>> runner("hello world").shape, runner.prepare("hello")["token_ids"].shape
    ((3,), (1, 16))
    """

    def __init__(self, model, *, sequence_length=64, name="keras fp32", tokenizer=None,
                 sequence_lengths=None):
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a keras.Model; received {type(model).__name__}.")
        if isinstance(sequence_length, bool) or not isinstance(sequence_length, int) \
                or sequence_length < 3:
            raise ValueError(
                f"`sequence_length` must be an int >= 3 ([CLS], a token, [SEP]); received "
                f"{sequence_length!r}."
            )
        if tokenizer is None:
            tokenizer = getattr(getattr(model, "preprocessor", None), "tokenizer", None)
            if tokenizer is None:
                raise ValueError(
                    "KerasRunner needs a tokenizer: `model` has no preprocessor with one; pass "
                    "`tokenizer=` (a keras-hub tokenizer, a preprocessor or a preset path)."
                )
        super().__init__(tokenizer, name)
        self.model = model
        self.sequence_length = sequence_length
        self.sequence_lengths = (None if sequence_lengths is None
                                 else buckets.check_sequence_lengths(sequence_lengths))
        names = list(model.input) if isinstance(model.input, dict) else buckets.SEQUENCE_INPUTS
        self._inputs = [key for key in names if key in buckets.SEQUENCE_INPUTS]
        length = sequence_length if self.sequence_lengths is None else None
        spec = {key: tf.TensorSpec((1, length), tf.int32, name=key)
                for key in self._inputs}
        self._serve = tf.function(lambda x: model(x, training=False), input_signature=[spec])

    def length_for(self, real_length):
        if self.sequence_lengths is None:
            return self.sequence_length
        lengths = self.sequence_lengths
        return buckets.choose_bucket(min(real_length, lengths[-1]), lengths)

    def run(self, inputs):
        """The logits `(classes,)` of one packed message."""
        feed = {key: tf.constant(inputs[key]) for key in self._inputs}
        return np.asarray(self._serve(feed))[0]


class TFLiteRunner(_TextRunner):
    """A `.tflite` written by `to_tflite`, at batch 1, each message in the smallest
    sequence-length bucket that holds it (longer ones cut to the largest).

    Args:
        path_or_classifier: the `.tflite` path (its `.json` and tokenizer beside it) or a
            `keras_compress.export.TFLiteClassifier` (then `threads` is its own).
        threads: LiteRT CPU threads when a path is given.
        name: default `"tflite <file name>"`.
        tokenizer: default the classifier's (the one saved beside the export).
    """

    def __init__(self, path_or_classifier, *, threads=2, name=None, tokenizer=None):
        if isinstance(path_or_classifier, TFLiteClassifier):
            classifier = path_or_classifier
        elif isinstance(path_or_classifier, (str, pathlib.Path)):
            if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
                raise ValueError(f"`threads` must be an int >= 1; received {threads!r}.")
            classifier = TFLiteClassifier(path_or_classifier, tokenizer=tokenizer,
                                          num_threads=threads)
        else:
            raise TypeError(
                "`path_or_classifier` must be a .tflite path or a TFLiteClassifier; received "
                f"{type(path_or_classifier).__name__}."
            )
        tokenizer = tokenizer if tokenizer is not None else classifier.tokenizer
        if tokenizer is None:
            raise ValueError(
                f"TFLiteRunner needs a tokenizer: none is saved beside {classifier.path}; pass "
                "`tokenizer=`."
            )
        if name is None:
            name = f"tflite {pathlib.Path(classifier.path).name}" if classifier.path else "tflite"
        super().__init__(tokenizer, name)
        self.classifier = classifier

    def length_for(self, real_length):
        lengths = self.classifier.sequence_lengths
        return buckets.choose_bucket(min(real_length, lengths[-1]), lengths)

    def run(self, inputs):
        """The logits `(classes,)` of one packed message."""
        return self.classifier.outputs(inputs)[0]
