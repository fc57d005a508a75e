"""What an export made: `ExportReport`, and `ParityError` when it would not match Keras."""

import dataclasses
import json

from keras_compress.export import graph


class ParityError(RuntimeError):
    """The exported model's outputs differ from the Keras model's past the tolerance."""


@dataclasses.dataclass
class ExportReport:
    """What `to_tflite` made: file, size, params, parity, float ops.

    `print(report)` shows a table; `to_json()` gives the same as JSON (also
    stored in the `.tflite.json` beside the file). Latency is not measured
    here: time the file with `keras_compress.bench` (or `keras-compress bench`).
    """

    path: str
    quantization: str
    sequence_lengths: tuple
    batch_size: int
    size_bytes: int
    params: int
    parity: dict
    float_ops: dict = dataclasses.field(default_factory=dict)

    def to_dict(self):
        return dataclasses.asdict(self) | {"sequence_lengths": list(self.sequence_lengths)}

    def to_json(self, indent=2):
        return json.dumps(self.to_dict(), indent=indent)

    def table(self):
        """The report as printable lines."""
        parity = self.parity
        lines = [
            f"TFLite export: {self.path}",
            f"  quantization {self.quantization}, buckets {tuple(self.sequence_lengths)}, "
            f"batch {self.batch_size or 'any'}, "
            f"{self.size_bytes / 1e6:.2f} MB on disk, {self.params:,} params",
            f"  parity on {parity['samples']} samples: max |diff| {parity['max_abs_diff']:.3g}, "
            f"label agreement {parity['label_agreement']:.1%}",
        ]
        if self.float_ops:
            lines.append(f"  ops left in float32: {graph.describe_float_ops(self.float_ops)}")
        return "\n".join(lines)

    def __str__(self):
        return self.table()
