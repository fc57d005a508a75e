"""`to_tflite`: a compressed Keras text classifier as a LiteRT (`.tflite`) file."""

import pathlib
import tempfile
import warnings

import numpy as np

from keras_compress.export import buckets, checks, graph, report, tokens
from keras_compress.export.embedding import row_scale_embeddings
from keras_compress.export.metadata import write_metadata
from keras_compress.export.runner import TFLiteClassifier
from keras_compress.surgery.strip import strip

QUANTIZATIONS = (None, "dynamic", "int8", "float16")
IO_TYPES = ("float32", "int8")

# Parity tolerances when not given: (atol on outputs, minimum label agreement).
# Float exports must match closely; quantized ones are checked on labels,
# which holds on real text (pass it as `parity_data`) but not necessarily on
# the random token ids used when no data is given.
DEFAULT_TOLERANCES = {
    None: (1e-4, None),
    "float16": (None, 0.9),
    "dynamic": (None, 0.9),
    "int8": (None, 0.8),
}


def to_tflite(
    model,
    path,
    quantization=None,
    representative_data=None,
    sequence_lengths=None,
    *,
    batch_size=1,
    io_type="float32",
    label_names=None,
    parity_data=None,
    atol="default",
    min_agreement="default",
    allow_float_ops=True,
    latency_runs=50,
    threads=(1, 2),
    verbose=True,
):
    """Writes `model` (a keras-hub-style text classifier) as a `.tflite` file.

    The model is first stripped (`keras_compress.strip`: masks baked in,
    compression layers replaced by plain ones), then converted with
    TensorFlow's TFLite converter with one static-shape signature per
    sequence-length bucket (`seq_16`, `seq_32`, ...) in one file. Only the
    numeric model is exported (inputs `token_ids`, `segment_ids`,
    `padding_mask`); `TFLiteClassifier` tokenizes text in Python. Beside the
    file goes `<path>.json`: bucket lengths, label names, and this report;
    and, for a model with a keras-hub preprocessor, `<path>.tokenizer/`, from
    which `TFLiteClassifier(path)` tokenizes text.

    Before anything is written, the Keras model and the converted model run
    on the same inputs (`parity_data`); past the tolerance, `ParityError` is
    raised and nothing is written.

    Args:
        model: a Keras model whose inputs are a dict of `(batch, sequence)`
            integer tensors with `token_ids` and `padding_mask` (and
            optionally `segment_ids`), and whose output is `(batch, classes)`,
            e.g. `keras_hub.models.BertTextClassifier`, compressed or not.
        path: the `.tflite` file to write.
        quantization: `None` (float32); `"dynamic"` (int8 weights, float
            activations, quantized on the fly); `"int8"` (weights and
            activations int8, ranges calibrated on `representative_data`, or,
            without it, the ranges a QAT model learned: the layers trained with
            fake quantization become int8 kernels, the ops they do not cover
            stay float and are listed in a warning); `"float16"` (float16
            weights).
        representative_data: for `"int8"`: texts (the model needs a keras-hub
            preprocessor) or a dict of packed `(samples, length)` arrays. Every
            bucket is calibrated on all of it; a few hundred samples suffice.
        sequence_lengths: bucket lengths, e.g. `(16, 32, 64, 128)`. Default:
            the model's static length, else its preprocessor's `sequence_length`.
        batch_size: static batch size of every signature (fastest: 1), or
            `None` for any batch size.
        io_type: `"float32"` or `"int8"` (int8 outputs; `"int8"` quantization
            only). Token inputs are int32 ids either way.
        label_names: names of the classes, stored for `TFLiteClassifier`.
        parity_data: texts or packed inputs to compare Keras and TFLite on.
            Default: `representative_data`, else random token ids (8 per bucket).
        atol: largest allowed max abs difference of the outputs; `None`
            skips the check. Default: 1e-4 for float32, unchecked otherwise.
        min_agreement: smallest allowed fraction of equal argmax labels;
            `None` skips it. Default: 0.9 for float16 and dynamic, 0.8 for
            int8, unchecked for float32.
        allow_float_ops: for `"int8"`: if the converter cannot quantize some
            ops, keep them in float32 and warn naming them (`True`), or raise
            `ValueError` naming them (`False`).
        latency_runs: runs per bucket for the latency in the report (median);
            0 skips timing.
        threads: thread counts to time.
        verbose: print the report.

    Returns:
        An `ExportReport` (`print(report)`, `report.to_json()`).

    Example:

    >>> import tempfile, pathlib, keras_hub
    >>> from keras_compress.export import to_tflite
    >>> backbone = keras_hub.models.BertBackbone(vocabulary_size=50, num_layers=1,
    ...     num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16)
    >>> model = keras_hub.models.BertTextClassifier(backbone, 2, preprocessor=None)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.tflite"
    >>> report = to_tflite(model, path, "dynamic", sequence_lengths=(8, 16),
    ...                    latency_runs=0, verbose=False)
    >>> report.parity["samples"], path.is_file()
    (16, True)
    """
    path = pathlib.Path(path)
    checks.check_choice("quantization", quantization, QUANTIZATIONS)
    checks.check_choice("io_type", io_type, IO_TYPES)
    if io_type == "int8" and quantization != "int8":
        raise ValueError(
            f"`io_type='int8'` needs `quantization='int8'`; received quantization={quantization!r}."
        )
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"`batch_size` must be a positive int or None; received {batch_size!r}.")
    input_dtypes, num_classes = checks.check_model(model)
    lengths = checks.resolve_lengths(model, sequence_lengths, input_dtypes)
    tokenizer = tokens.resolve_tokenizer(getattr(model, "preprocessor", None))
    label_names = checks.check_label_names(label_names, num_classes)
    from_qat_ranges = quantization == "int8" and representative_data is None
    if from_qat_ranges:
        _check_qat_ranges(model, io_type)
    calibration = (
        None
        if representative_data is None
        else tokens.as_packed(representative_data, tokenizer, lengths[-1], "representative_data")
    )
    if parity_data is None:
        parity_inputs = calibration if calibration is not None else tokens.random_packed(
            lengths, checks.vocabulary_size(model)
        )
    else:
        parity_inputs = tokens.as_packed(parity_data, tokenizer, lengths[-1], "parity_data")

    plain = strip(model, keep_quantization=from_qat_ranges)
    params = int(plain.count_params())
    if quantization in ("dynamic", "int8"):
        row_scale_embeddings(plain)  # per-row precision under per-tensor int8
    content = _convert(plain, input_dtypes, lengths, batch_size, quantization, calibration, io_type)
    kept_float = graph.float_ops(content) if quantization == "int8" else {}
    if kept_float:
        _handle_float_ops(kept_float, allow_float_ops)

    metadata = {
        "signatures": {str(length): _signature_key(length) for length in lengths},
        "sequence_lengths": list(lengths),
        "batch_size": batch_size,
        "inputs": sorted(input_dtypes),
        "output": "outputs",
        "output_kind": checks.output_kind(model),
        "num_classes": num_classes,
        "label_names": label_names,
        "quantization": quantization or "float32",
        "io_type": io_type,
    }
    default_atol, default_agreement = DEFAULT_TOLERANCES[quantization]
    parity = report.check_parity(
        model,
        TFLiteClassifier._from_content(content, metadata),
        parity_inputs,
        atol=default_atol if atol == "default" else atol,
        min_agreement=default_agreement if min_agreement == "default" else min_agreement,
    )

    result = report.ExportReport(
        path=str(path),
        quantization=quantization or "float32",
        sequence_lengths=lengths,
        batch_size=batch_size,
        size_bytes=len(content),
        params=params,
        parity=parity,
        float_ops=kept_float,
        latency_ms=report.measure_latency(content, metadata, latency_runs, threads)
        if latency_runs else {},
        latency_runs=latency_runs,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    if tokenizer is not None:
        metadata["tokenizer"] = _save_tokenizer(tokenizer, path)
    write_metadata(path, metadata | {"report": result.to_dict()})
    if verbose:
        print(result.table())
    return result


def _save_tokenizer(tokenizer, path):
    """Saves the tokenizer beside the file for `TFLiteClassifier`; its folder name, or None."""
    directory = tokens.tokenizer_dir(path)
    try:
        tokens.save_tokenizer(tokenizer, directory)
    except Exception as error:  # e.g. a tokenizer that keras-hub cannot save
        warnings.warn(
            f"to_tflite: the tokenizer was not saved beside {path} ({error}); pass it to "
            "TFLiteClassifier(path, tokenizer=...) to run text.",
            stacklevel=3,
        )
        return None
    return directory.name


def _signature_key(length):
    return f"seq_{length}"


def _convert(model, input_dtypes, lengths, batch_size, quantization, calibration, io_type):
    """Converts `model` with one signature per length; returns the `.tflite` bytes."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as saved_dir:
        keys = _save_signatures(model, saved_dir, input_dtypes, lengths, batch_size)

        def converter(ops):
            conv = tf.lite.TFLiteConverter.from_saved_model(saved_dir, signature_keys=keys)
            conv.target_spec.supported_ops = ops
            if quantization is not None:
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
            if quantization == "float16":
                conv.target_spec.supported_types = [tf.float16]
            if quantization == "int8" and calibration is not None:
                conv.representative_dataset = _representative(calibration, lengths, batch_size)
                if io_type == "int8":
                    conv.inference_output_type = tf.int8
            return conv

        if quantization != "int8" or calibration is None:
            # From QAT ranges, the converter quantizes what fake quantization
            # covers; the other ops stay float (reported by the caller).
            return _run_converter(converter([tf.lite.OpsSet.TFLITE_BUILTINS]))
        try:
            return _run_converter(converter([tf.lite.OpsSet.TFLITE_BUILTINS_INT8]))
        except Exception as error:  # the converter raises ConverterError for unquantizable ops
            strict_error = str(error).strip().splitlines()[-1][:500]
        warnings.warn(
            "to_tflite(quantization='int8'): the converter could not quantize every op "
            f"({strict_error}); converting again with float32 kernels allowed for those ops.",
            stacklevel=3,
        )
        return _run_converter(
            converter([tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS])
        )


def _save_signatures(model, directory, input_dtypes, lengths, batch_size):
    """A SavedModel with one static-shape signature per length; returns their keys.

    Keras 3 models are saved through a bare `tf.Module` that tracks the
    variables the signatures capture (the route of `keras.export.ExportArchive`,
    which rejects models whose layer lists were edited by `swap_layers`).
    """
    import tensorflow as tf

    module = tf.Module()
    signatures = {}
    for length in lengths:
        specs = {
            name: tf.TensorSpec((batch_size, length), dtype, name=name)
            for name, dtype in input_dtypes.items()
        }

        def serve(inputs):
            return {"outputs": model(inputs, training=False)}

        function = tf.function(serve, input_signature=[specs])
        signatures[_signature_key(length)] = function.get_concrete_function()
    module.captured_variables = [
        variable for function in signatures.values() for variable in function.variables
    ]
    tf.saved_model.save(module, directory, signatures=signatures)
    return list(signatures)


def _run_converter(converter):
    # The calibrator uses tf.lite.Interpreter internally, which warns that it is deprecated.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated")
        return converter.convert()


def _representative(calibration, lengths, batch_size):
    """The converter's calibration generator: every sample in every bucket."""

    def generate():
        count = len(calibration["token_ids"])
        chunk = batch_size or 1
        for length in lengths:
            packed = buckets.repack(calibration, length)
            for begin in range(0, count, chunk):
                rows = np.arange(begin, begin + chunk) % count
                yield _signature_key(length), {name: value[rows] for name, value in packed.items()}

    return generate


















def _check_qat_ranges(model, io_type):
    """For `"int8"` without representative data: the model must carry QAT ranges."""
    from keras_compress.layers.qat import FakeQuantSwitch
    from keras_compress.surgery import tree

    if not any(
        isinstance(layer, FakeQuantSwitch) and layer.quantization_on
        for _, _, layer in tree.walk(model)
    ):
        raise ValueError(
            "`quantization='int8'` needs int8 ranges: pass `representative_data` (a few "
            "hundred texts for a model with a preprocessor, or a dict of packed token_ids / "
            "padding_mask arrays), or export a QAT model (Quantized layers swapped in and "
            "switched on by `QATToggle`), whose learned ranges are used."
        )
    if io_type == "int8":
        raise ValueError(
            "`io_type='int8'` needs `representative_data`: from QAT ranges only the layers "
            "trained with fake quantization are int8, and the classifier's output stays float."
        )


def _handle_float_ops(kept_float, allow_float_ops):
    listed = graph.describe_float_ops(kept_float)
    if not allow_float_ops:
        raise ValueError(
            f"to_tflite(quantization='int8'): these ops could not be quantized and would "
            f"stay float32: {listed}. Pass allow_float_ops=True to keep them in float."
        )
    warnings.warn(
        f"to_tflite(quantization='int8'): ops left in float32 (not quantizable by the "
        f"converter): {listed}.",
        stacklevel=3,
    )
