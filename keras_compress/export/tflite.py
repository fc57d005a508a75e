"""`to_tflite`: a compressed Keras text classifier as a LiteRT (`.tflite`) file."""

import warnings

from keras_compress.export import checks
from keras_compress.export import legacy as legacy_arguments
from keras_compress.export.convert import convert
from keras_compress.export.prepare import prepare
from keras_compress.export.report import ExportReport
from keras_compress.export.runner import TFLiteClassifier
from keras_compress.export.validate import validate
from keras_compress.export.verify import verify
from keras_compress.export.write import write_export


def to_tflite(model, path, config=None, *, label_names=None, parity=None, overwrite=False,
              verbose=True, **legacy):
    """Writes `model` (a keras-hub-style text classifier) as a `.tflite` file.

    Five steps: **validate** every argument (before any work), **prepare** a
    plain copy (`keras_compress.strip`: masks baked in, pruned heads and
    neurons cut out), **convert** it with one static-shape signature per
    sequence-length bucket (`seq_16`, `seq_32`, ...), **verify** that the
    converted model answers as the Keras model does (each row in its bucket,
    against Keras at the bucket length and at the model's own length;
    `ParityError` otherwise), and **write** `<path>`, `<path>.json` (bucket
    lengths, label names, this report) and, for a model with a keras-hub
    preprocessor, `<path>.tokenizer/`: all under temporary names, renamed
    into place at the end, so a failure leaves nothing written and nothing
    replaced. Only the numeric model is exported (inputs `token_ids`,
    `segment_ids`, `padding_mask`); `TFLiteClassifier` tokenizes text.

    Args:
        model: a Keras model whose inputs are a dict of `(batch, sequence)`
            integer tensors with `token_ids` and `padding_mask` (and
            optionally `segment_ids`), and whose output is `(batch, classes)`,
            e.g. `keras_hub.models.BertTextClassifier`, compressed or not.
        path: the `.tflite` file to write.
        config: an `ExportConfig` (quantization, buckets, batch size, ...).
            Default: `ExportConfig()`, float32 at the model's own length.
        label_names: names of the classes, stored for `TFLiteClassifier`.
        parity: a `Parity` (data, `atol`, `min_agreement`). Default:
            `Parity.for_quantization(config.quantization)`.
        overwrite: allow a `path` that does not end in `.tflite`, or an
            existing file (or `.json` / `.tokenizer`) that an earlier export
            did not write. An earlier export at `path` is replaced either way.
        verbose: print the report.
        **legacy: the keyword arguments of earlier releases (`quantization`,
            `representative_data`, `sequence_lengths`, `batch_size`, `io_type`,
            `allow_float_ops`, `parity_data`, `atol`, `min_agreement`;
            `latency_runs` and `threads` are ignored). Deprecated.

    Returns:
        An `ExportReport` (`print(report)`, `report.to_json()`).

    Example:

    >>> import tempfile, pathlib, keras_hub
    >>> from keras_compress.export import ExportConfig, to_tflite
    >>> backbone = keras_hub.models.BertBackbone(vocabulary_size=50, num_layers=1,
    ...     num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16)
    >>> model = keras_hub.models.BertTextClassifier(backbone, 2, preprocessor=None)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.tflite"
    >>> report = to_tflite(model, path, ExportConfig("dynamic", sequence_lengths=(8, 16)),
    ...                    verbose=False)
    >>> report.parity["samples"], path.is_file()
    (16, True)
    """
    config, parity = legacy_arguments.resolve(config, parity, legacy)
    view = checks.functional_view(model)  # a subclassed model: named inputs, same weights
    plan = validate(view, path, config, parity, label_names, overwrite, verbose)
    plain, params = prepare(model, plan.config)
    content, float_ops = convert(plain, plan)
    metadata = plan.metadata(checks.output_kind(view))
    result = ExportReport(
        path=str(plan.path),
        quantization=plan.config.quantization or "float32",
        sequence_lengths=plan.lengths,
        batch_size=plan.config.batch_size,
        size_bytes=len(content),
        params=params,
        parity=verify(view, content, metadata, plan),
        float_ops=float_ops,
    )
    write_export(plan.path, content, metadata | {"report": result.to_dict()}, plan.tokenizer)
    if verbose:
        print(result.table())
    return result


def export_classifier(model, path, config=None, *, num_threads=None, **to_tflite_arguments):
    """`to_tflite(model, path, config, **to_tflite_arguments)`, then a `TFLiteClassifier`
    on the file that tokenizes with the model's own preprocessor."""
    to_tflite(model, path, config, **to_tflite_arguments)
    return TFLiteClassifier(path, getattr(model, "preprocessor", None), num_threads)


def _from_model(cls, model, path, num_threads=None, **export_arguments):
    warnings.warn(
        "TFLiteClassifier.from_model is deprecated; use "
        "keras_compress.export.export_classifier(model, path, config, num_threads=...).",
        DeprecationWarning,
        stacklevel=2,
    )
    return export_classifier(model, path, num_threads=num_threads, **export_arguments)


# Deprecated alias for one release. The runner does not import the exporter; the
# exporter attaches the old entry point to it.
TFLiteClassifier.from_model = classmethod(_from_model)
