"""Step 1 of `to_tflite`: every argument checked, and the data packed, before any work."""

import dataclasses
import numbers
import pathlib

import numpy as np

from keras_compress.export import checks, tokens
from keras_compress.export.config import IO_TYPES, QUANTIZATIONS, ExportConfig, Parity
from keras_compress.export.write import check_target
from keras_compress.layers.qat import FakeQuantSwitch
from keras_compress.surgery import tree


@dataclasses.dataclass
class Plan:
    """What `validate` found: the checked arguments and what the later steps need."""

    path: pathlib.Path
    config: ExportConfig  # resolved: no derived field left None
    parity: Parity
    input_dtypes: dict
    num_classes: int
    lengths: tuple
    own_length: int  # the length the model was trained / serves at (else the largest bucket)
    label_names: list | None
    tokenizer: object
    calibration: dict | None  # packed representative data
    parity_inputs: dict  # packed parity data

    def metadata(self, output_kind):
        """What `TFLiteClassifier` reads from `<path>.json` (the report is added later)."""
        config = self.config
        return {
            "signatures": {str(length): signature_key(length) for length in self.lengths},
            "sequence_lengths": list(self.lengths),
            "batch_size": config.batch_size,
            "inputs": sorted(self.input_dtypes),
            "output": "outputs",
            "output_kind": output_kind,
            "num_classes": self.num_classes,
            "label_names": self.label_names,
            "quantization": config.quantization or "float32",
            "io_type": config.io_type,
        }


def signature_key(length):
    """The TFLite signature of a bucket: `seq_<length>`."""
    return f"seq_{length}"


def validate(model, path, config, parity, label_names=None, overwrite=False, verbose=True):
    """Checks every argument of `to_tflite`; returns a `Plan`. Raises naming the argument."""
    check_flag("overwrite", overwrite)
    check_flag("verbose", verbose)
    path = check_target(path, overwrite)
    config = check_config(config)
    parity = check_parity(parity)
    input_dtypes, num_classes = checks.check_model(model)
    check_not_keras_quantized(model)
    lengths = checks.resolve_lengths(model, config.sequence_lengths, input_dtypes)
    tokenizer = tokens.resolve_tokenizer(getattr(model, "preprocessor", None))
    if isinstance(label_names, str):
        raise TypeError(f"`label_names` must be a list of names; received the string {label_names!r}.")
    label_names = checks.check_label_names(label_names, num_classes)
    if config.uses_qat_ranges:
        check_qat_ranges(model, config.io_type)
    calibration = None if config.representative_data is None else tokens.as_packed(
        config.representative_data, tokenizer, lengths[-1], "representative_data")
    if parity.data is not None:
        parity_inputs = tokens.as_packed(parity.data, tokenizer, lengths[-1], "parity.data")
    elif calibration is not None:
        parity_inputs = calibration
    else:
        parity_inputs = tokens.random_packed(lengths, checks.vocabulary_size(model))
    return Plan(path, config, parity, input_dtypes, num_classes, lengths,
                checks.own_length(model, input_dtypes) or lengths[-1], label_names, tokenizer,
                calibration, parity_inputs)


def check_config(config):
    """`config` checked field by field, with its derived fields resolved."""
    if not isinstance(config, ExportConfig):
        raise TypeError(
            f"`config` must be a keras_compress.export.ExportConfig (or None); received "
            f"{type(config).__name__}."
        )
    checks.check_choice("quantization", config.quantization, QUANTIZATIONS)
    checks.check_choice("io_type", config.io_type, IO_TYPES)
    if config.io_type == "int8" and config.quantization != "int8":
        raise ValueError(
            "`io_type='int8'` needs `quantization='int8'`; received "
            f"quantization={config.quantization!r}."
        )
    batch_size = config.batch_size
    if batch_size is not None and (
        isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, numbers.Integral)
        or batch_size < 1
    ):
        raise ValueError(f"`batch_size` must be a positive int or None; received {batch_size!r}.")
    check_flag("allow_float_ops", config.allow_float_ops)
    if config.row_scaling is not None:
        check_flag("row_scaling", config.row_scaling)
    return dataclasses.replace(
        config.resolved(), batch_size=None if batch_size is None else int(batch_size)
    )


def check_parity(parity):
    """`parity` with its tolerances checked and made plain floats."""
    if not isinstance(parity, Parity):
        raise TypeError(
            f"`parity` must be a keras_compress.export.Parity (or None); received "
            f"{type(parity).__name__}."
        )
    atol = _tolerance("atol", parity.atol, "a number >= 0, or None to skip the check")
    agreement = _tolerance(
        "min_agreement", parity.min_agreement, "a fraction in [0, 1], or None to skip the check",
        upper=1.0,
    )
    return dataclasses.replace(parity, atol=atol, min_agreement=agreement)


def _tolerance(argument, value, allowed, upper=None):
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not (
        0 <= float(value) <= (upper if upper is not None else float("inf"))
    ):
        raise ValueError(f"`{argument}` must be {allowed}; received {value!r}.")
    return float(value)


def check_flag(argument, value):
    """Raises `TypeError` naming `argument` unless `value` is a bool (NumPy's included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{argument}` must be True or False; received {value!r}.")


def check_not_keras_quantized(model):
    """Keras's own `model.quantize(...)` layers do not convert: refused before any work."""
    keras_quantized = [layer.name for _, _, layer in tree.walk(model)
                       if getattr(layer, "quantization_mode", None)]
    if keras_quantized:
        raise ValueError(
            f"to_tflite cannot convert layers quantized by Keras's `model.quantize(...)`; model "
            f"'{model.name}' has {len(keras_quantized)} (first: {keras_quantized[:3]}). Export "
            "the float model instead: ExportConfig('dynamic') (`keras-compress export "
            "--quantize dynamic`) stores int8 weights too."
        )


def check_qat_ranges(model, io_type):
    """For `"int8"` without representative data: the model must carry QAT ranges."""
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
