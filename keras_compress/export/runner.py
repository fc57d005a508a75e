"""`TFLiteClassifier`: text in, labels and probabilities out, on LiteRT."""

import collections
import pathlib

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from keras_compress.export import buckets, tokens
from keras_compress.export.metadata import read_metadata

Prediction = collections.namedtuple("Prediction", ["labels", "label_ids", "probabilities"])
Prediction.__doc__ = """What `TFLiteClassifier.predict` returns.

`labels`: label names (ints when the export has no label names),
`label_ids`: int array `(n,)`, `probabilities`: float array `(n, classes)`.
"""


class TFLiteClassifier:
    """Runs a text classifier exported by `keras_compress.export.to_tflite`.

    Text is tokenized in Python with the model's keras-hub tokenizer, each
    message goes to the smallest sequence-length bucket that holds it
    (`[CLS]` and `[SEP]` included; longer messages are cut to the largest
    bucket), and each bucket runs its own static-shape signature. Messages
    of one bucket run together: in one call when the export has a dynamic
    batch size (`batch_size=None`), else in chunks of the export's batch
    size.

    Args:
        path: the `.tflite` file; its `.tflite.json` metadata must sit beside it.
        tokenizer: a keras-hub tokenizer, a preprocessor that has one, or a
            preset path. Needed for `predict` on text; not for `predict_packed`.
            Default: the tokenizer `to_tflite` saved beside the file, if any.
        num_threads: CPU threads for LiteRT (`None`: its default).

    Example:

    >>> import tempfile, pathlib, keras_hub
    >>> from keras_compress.export import ExportConfig, TFLiteClassifier, to_tflite
    >>> backbone = keras_hub.models.BertBackbone(vocabulary_size=50, num_layers=1,
    ...     num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16)
    >>> model = keras_hub.models.BertTextClassifier(backbone, 2, preprocessor=None)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.tflite"
    >>> config = ExportConfig(sequence_lengths=(8, 16))
    >>> _ = to_tflite(model, path, config, label_names=["no", "yes"], verbose=False)
    >>> classifier = TFLiteClassifier(path)
    >>> classifier.bucket_for(5), classifier.bucket_for(9)
    (8, 16)
    >>> x = {"token_ids": [[2, 7, 9, 3, 0]], "padding_mask": [[1, 1, 1, 1, 0]]}
    >>> classifier.predict_packed(x).probabilities.shape
    (1, 2)
    """

    def __init__(self, path, tokenizer=None, num_threads=None):
        self.path = path
        self.num_threads = num_threads
        metadata = read_metadata(path)
        if tokenizer is None and metadata.get("tokenizer"):
            saved = pathlib.Path(path).with_name(metadata["tokenizer"])
            if saved.is_dir():
                tokenizer = tokens.load_tokenizer(saved)
        self._setup(Interpreter(model_path=str(path), num_threads=num_threads), metadata,
                    tokenizer)

    @classmethod
    def _from_content(cls, content, metadata, tokenizer=None):
        classifier = cls.__new__(cls)
        classifier.path, classifier.num_threads = None, None
        classifier._setup(Interpreter(model_content=content), metadata, tokenizer)
        return classifier

    def _setup(self, interpreter, metadata, tokenizer):
        self.interpreter = interpreter
        self.metadata = metadata
        self.sequence_lengths = tuple(metadata["sequence_lengths"])
        self.batch_size = metadata["batch_size"]
        self.label_names = metadata.get("label_names")
        self.tokenizer = tokens.resolve_tokenizer(tokenizer)
        self._runners = {
            int(length): interpreter.get_signature_runner(key)
            for length, key in metadata["signatures"].items()
        }
        runner = self._runners[self.sequence_lengths[0]]
        self._input_dtypes = {
            name: detail["dtype"] for name, detail in runner.get_input_details().items()
        }
        output = runner.get_output_details()[metadata["output"]]
        scale, zero_point = output["quantization"]
        self._output_quantization = (scale, zero_point) if scale else None

    def bucket_for(self, length_or_text):
        """The bucket length a message runs in (a text or its packed length)."""
        if isinstance(length_or_text, str):
            length_or_text = len(tokens.tokenize(self._require_tokenizer(), [length_or_text])[0]) + 2
        return buckets.choose_bucket(int(length_or_text), self.sequence_lengths)

    def predict(self, texts):
        """Labels and probabilities for a string or a list of strings."""
        texts = tokens.check_texts(texts)
        tokenizer = self._require_tokenizer()
        start, end, pad = tokens.special_ids(tokenizer)
        token_lists = tokens.tokenize(tokenizer, texts)
        outputs = np.zeros((len(texts), self._num_outputs()), "float32")
        lengths = [min(len(ids) + 2, self.sequence_lengths[-1]) for ids in token_lists]
        for bucket, rows in buckets.group_by_bucket(lengths, self.sequence_lengths).items():
            packed = buckets.pack_tokens([token_lists[r] for r in rows], bucket, start, end, pad)
            outputs[rows] = self._run_bucket(bucket, packed)
        return self._prediction(outputs)

    def predict_packed(self, inputs):
        """Labels and probabilities for packed inputs (dict of `(n, length)` arrays)."""
        return self._prediction(self.outputs(inputs))

    def outputs(self, inputs):
        """The model's raw outputs (logits, or probabilities if the model has a
        softmax) for packed inputs, each row run in its bucket."""
        if not isinstance(inputs, dict):
            raise TypeError(
                "`inputs` must be a dict of packed (samples, sequence) int arrays with "
                f"token_ids and padding_mask; received {type(inputs).__name__}. "
                "For text, call predict(texts)."
            )
        length = np.shape(inputs["token_ids"])[-1] if "token_ids" in inputs else 1
        inputs = tokens.as_packed(inputs, None, length, "inputs")
        lengths = buckets.real_lengths(inputs)
        outputs = np.zeros((len(lengths), self._num_outputs()), "float32")
        for bucket, rows in buckets.group_by_bucket(lengths, self.sequence_lengths).items():
            outputs[rows] = self._run_bucket(bucket, buckets.repack(inputs, bucket, rows))
        return outputs

    def _run_bucket(self, bucket, packed):
        runner = self._runners[bucket]
        feeds = {name: packed[name].astype(dtype) for name, dtype in self._input_dtypes.items()}
        count = len(next(iter(feeds.values())))
        chunk = self.batch_size or count
        results = []
        for begin in range(0, count, chunk):
            part = {name: value[begin : begin + chunk] for name, value in feeds.items()}
            missing = chunk - len(next(iter(part.values())))
            if missing:  # a static batch size: fill with copies of the first row
                part = {name: np.concatenate([value, value[:1].repeat(missing, 0)])
                        for name, value in part.items()}
            result = runner(**part)[self.metadata["output"]]
            results.append(result[: chunk - missing])
        return self._dequantize(np.concatenate(results))

    def _dequantize(self, values):
        if self._output_quantization is None:
            return values.astype("float32")
        scale, zero_point = self._output_quantization
        return ((values.astype("float32") - zero_point) * scale).astype("float32")

    def _prediction(self, outputs):
        if self.metadata["output_kind"] == "probabilities":
            probabilities = outputs
        else:
            shifted = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
            probabilities = shifted / shifted.sum(axis=-1, keepdims=True)
        label_ids = np.argmax(outputs, axis=-1)
        names = self.label_names
        labels = [names[i] for i in label_ids] if names else label_ids.tolist()
        return Prediction(labels, label_ids, probabilities)

    def _num_outputs(self):
        return int(self.metadata["num_classes"])

    def _require_tokenizer(self):
        if self.tokenizer is None:
            raise ValueError(
                "TFLiteClassifier needs a tokenizer to run text: pass tokenizer= (a keras-hub "
                "tokenizer, preprocessor or preset path), or use predict_packed(inputs)."
            )
        return self.tokenizer
