"""What `to_tflite` is asked to do: `ExportConfig` (the file) and `Parity` (the check).

Every default that depends on the quantization mode is derived here, in
`ExportConfig.resolved()` and `Parity.for_quantization()`, and nowhere else.
"""

import dataclasses

QUANTIZATIONS = (None, "dynamic", "int8", "float16")
IO_TYPES = ("float32", "int8")

# Quantization modes whose embedding tables get per-row scales (see export/embedding.py).
ROW_SCALED = ("dynamic", "int8")

# Parity tolerances per mode: (atol on outputs, minimum label agreement). Float
# exports must match closely; quantized ones are checked on labels, which holds
# on real text (pass it as `Parity(data=...)`) but not necessarily on the random
# token ids used when no data is given.
TOLERANCES = {
    None: (1e-4, None),
    "float16": (None, 0.9),
    "dynamic": (None, 0.9),
    "int8": (None, 0.8),
}


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """How `to_tflite` converts: quantization, buckets, batch, calibration.

    Args:
        quantization: `None` (float32); `"dynamic"` (int8 weights, float
            activations, quantized on the fly); `"int8"` (weights and
            activations int8, ranges calibrated on `representative_data`, or,
            without it, the ranges a QAT model learned); `"float16"`.
        sequence_lengths: bucket lengths, e.g. `(16, 32, 64, 128)`. `None`:
            the model's static length, else its preprocessor's `sequence_length`.
        batch_size: static batch size of every signature (fastest: 1), or
            `None` for any batch size.
        io_type: `"float32"` or `"int8"` (int8 outputs; `"int8"` only).
        representative_data: for `"int8"`: texts (the model needs a keras-hub
            preprocessor) or a dict of packed `(samples, length)` arrays.
        allow_float_ops: for `"int8"`: keep ops the converter cannot quantize
            in float32 with a warning (`True`) or raise `ValueError` (`False`).
        row_scaling: give large embedding tables per-row scales before
            conversion (`RowScaledEmbedding`). `None`: on for `"dynamic"` and
            `"int8"`, off otherwise (`resolved()`).

    Example:

    >>> ExportConfig("dynamic", sequence_lengths=(16, 32)).resolved().row_scaling
    True
    """

    quantization: str | None = None
    sequence_lengths: tuple | int | None = None
    batch_size: int | None = 1
    io_type: str = "float32"
    representative_data: object = None
    allow_float_ops: bool = True
    row_scaling: bool | None = None

    @property
    def uses_qat_ranges(self):
        """`"int8"` without representative data: the QAT layers' learned ranges are used,
        so `strip` keeps them (`keep_quantization=True`)."""
        return self.quantization == "int8" and self.representative_data is None

    def resolved(self):
        """A copy with every derived field set (`row_scaling`)."""
        if self.row_scaling is not None:
            return self
        return dataclasses.replace(self, row_scaling=self.quantization in ROW_SCALED)


@dataclasses.dataclass(frozen=True)
class Parity:
    """How `to_tflite` checks the converted model against Keras before writing it.

    Args:
        data: texts or a dict of packed arrays to compare on. `None`: the
            config's `representative_data`, else random token ids (8 per bucket).
        atol: largest allowed max abs difference of the outputs; `None` skips it.
        min_agreement: smallest allowed fraction of equal argmax labels, in
            [0, 1]; `None` skips it.

    `Parity()` is the float32 check; `Parity.for_quantization(mode)` the
    default of each mode.

    Example:

    >>> Parity.for_quantization("dynamic")
    Parity(data=None, atol=None, min_agreement=0.9)
    """

    data: object = None
    atol: float | None = TOLERANCES[None][0]
    min_agreement: float | None = TOLERANCES[None][1]

    @classmethod
    def for_quantization(cls, quantization, data=None):
        """The default tolerances of `quantization` (see `TOLERANCES`)."""
        if not isinstance(quantization, (str, type(None))) or quantization not in TOLERANCES:
            raise ValueError(
                f"`quantization` must be one of {QUANTIZATIONS}; received {quantization!r}."
            )
        atol, min_agreement = TOLERANCES[quantization]
        return cls(data=data, atol=atol, min_agreement=min_agreement)
