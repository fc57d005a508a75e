"""Step 3 of `to_tflite`: TensorFlow's TFLite converter, one signature per bucket."""

import tempfile
import warnings

import numpy as np
import tensorflow as tf

from keras_compress.export import buckets, graph
from keras_compress.export.validate import signature_key


def convert(plain, plan):
    """`(tflite bytes, ops left in float)` for the prepared model `plain`.

    Ops left in float are listed only for `"int8"`; with
    `allow_float_ops=False` they raise `ValueError` naming them.
    """
    config = plan.config
    content = _convert(plain, plan.input_dtypes, plan.lengths, config, plan.calibration)
    kept_float = graph.float_ops(content) if config.quantization == "int8" else {}
    if kept_float:
        _handle_float_ops(kept_float, config.allow_float_ops)
    return content, kept_float


def _convert(model, input_dtypes, lengths, config, calibration):
    with tempfile.TemporaryDirectory() as saved_dir:
        keys = _save_signatures(model, saved_dir, input_dtypes, lengths, config.batch_size)

        def converter(ops):
            conv = tf.lite.TFLiteConverter.from_saved_model(saved_dir, signature_keys=keys)
            conv.target_spec.supported_ops = ops
            if config.quantization is not None:
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
            if config.quantization == "float16":
                conv.target_spec.supported_types = [tf.float16]
            if config.quantization == "int8" and calibration is not None:
                conv.representative_dataset = _representative(
                    calibration, lengths, config.batch_size)
                if config.io_type == "int8":
                    conv.inference_output_type = tf.int8
            return conv

        if config.quantization != "int8" or calibration is None:
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
            stacklevel=4,
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
        signatures[signature_key(length)] = function.get_concrete_function()
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
                yield signature_key(length), {name: value[rows] for name, value in packed.items()}

    return generate


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
        stacklevel=4,
    )
