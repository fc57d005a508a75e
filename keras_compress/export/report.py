"""Checking and describing an export: parity with Keras, latency, size, `ExportReport`."""

import dataclasses
import json
import statistics
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from keras_compress.export import buckets, graph


class ParityError(RuntimeError):
    """The exported model's outputs differ from the Keras model's past the tolerance."""


def check_parity(model, classifier, inputs, atol=None, min_agreement=None, batch_size=64):
    """Runs the Keras `model` and the TFLite `classifier` on the same packed inputs.

    Every row runs in its bucket in both, so both see identical numbers.
    Returns `{"samples", "max_abs_diff", "label_agreement", "atol",
    "min_agreement"}`; raises `ParityError` when `max_abs_diff > atol` or
    `label_agreement < min_agreement` (a `None` tolerance is not checked).
    """
    names = list(model.input) if isinstance(model.input, dict) else None
    lengths = buckets.real_lengths(inputs)
    expected = np.zeros((len(lengths), classifier.metadata["num_classes"]), "float32")
    for bucket, rows in buckets.group_by_bucket(lengths, classifier.sequence_lengths).items():
        packed = buckets.repack({n: inputs[n] for n in names}, bucket, rows)
        for begin in range(0, len(rows), batch_size):
            part = {n: v[begin : begin + batch_size] for n, v in packed.items()}
            expected[rows[begin : begin + batch_size]] = np.asarray(model(part, training=False))
    actual = classifier.outputs(inputs)
    result = {
        "samples": int(len(lengths)),
        "max_abs_diff": float(np.max(np.abs(actual - expected))) if len(lengths) else 0.0,
        "label_agreement": float(np.mean(actual.argmax(-1) == expected.argmax(-1)))
        if len(lengths) else 1.0,
        "atol": atol,
        "min_agreement": min_agreement,
    }
    problems = []
    if not np.all(np.isfinite(actual)):
        problems.append("the TFLite outputs are not all finite")
    if atol is not None and not result["max_abs_diff"] <= atol:
        problems.append(f"max abs diff {result['max_abs_diff']:.3g} > atol {atol:g}")
    if min_agreement is not None and result["label_agreement"] < min_agreement:
        problems.append(
            f"label agreement {result['label_agreement']:.2%} < min_agreement {min_agreement:.2%}"
        )
    if problems:
        raise ParityError(
            f"TFLite export does not match the Keras model on {result['samples']} samples: "
            + "; ".join(problems)
            + ". Nothing was written. Loosen `atol` / `min_agreement` (None skips a check) "
            "only if this is expected, e.g. for quantized exports on random inputs."
        )
    return result


def measure_latency(content, metadata, runs=50, threads=(1, 2), warmup=5):
    """Median milliseconds per call, `{threads: {bucket: ms}}`, model only.

    Each bucket's signature runs on an all-real-token input of its static
    shape (batch 1 when the batch size is dynamic); tokenization is not
    included.
    """
    batch = metadata["batch_size"] or 1
    latency = {}
    for count in threads:
        interpreter = Interpreter(model_content=content, num_threads=count)
        per_bucket = {}
        for length, key in metadata["signatures"].items():
            runner = interpreter.get_signature_runner(key)
            feeds = {
                name: np.ones((batch, int(length)), detail["dtype"])
                for name, detail in runner.get_input_details().items()
            }
            for _ in range(warmup):
                runner(**feeds)
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                runner(**feeds)
                times.append(time.perf_counter() - start)
            per_bucket[str(length)] = 1e3 * statistics.median(times)
        latency[str(count)] = per_bucket
    return latency


@dataclasses.dataclass
class ExportReport:
    """What `to_tflite` made: file, size, params, parity, float ops, latency.

    `latency_ms` maps thread count -> bucket length -> median ms (model
    only, batch as exported). `print(report)` shows a table; `to_json()`
    gives the same as JSON (also stored in the `.tflite.json` beside the file).
    """

    path: str
    quantization: str
    sequence_lengths: tuple
    batch_size: int
    size_bytes: int
    params: int
    parity: dict
    float_ops: dict = dataclasses.field(default_factory=dict)
    latency_ms: dict = dataclasses.field(default_factory=dict)
    latency_runs: int = 0

    def to_dict(self):
        return dataclasses.asdict(self) | {"sequence_lengths": list(self.sequence_lengths)}

    def to_json(self, indent=2):
        return json.dumps(self.to_dict(), indent=indent)

    def table(self):
        """The report as printable lines."""
        parity = self.parity
        lines = [
            f"TFLite export: {self.path}",
            f"  quantization {self.quantization}, batch {self.batch_size or 'any'}, "
            f"{self.size_bytes / 1e6:.2f} MB on disk, {self.params:,} params",
            f"  parity on {parity['samples']} samples: max |diff| {parity['max_abs_diff']:.3g}, "
            f"label agreement {parity['label_agreement']:.1%}",
        ]
        if self.float_ops:
            lines.append(f"  ops left in float32: {graph.describe_float_ops(self.float_ops)}")
        if self.latency_ms:
            thread_counts = list(self.latency_ms)
            header = ["bucket"] + [f"{t} thread{'s' if t != '1' else ''} (ms)" for t in thread_counts]
            rows = [
                [str(length)] + [f"{self.latency_ms[t][str(length)]:.3f}" for t in thread_counts]
                for length in self.sequence_lengths
            ]
            widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
            lines.append(f"  latency, median of {self.latency_runs} runs (model only):")
            for row in [header] + rows:
                lines.append("    " + "  ".join(c.ljust(w) for c, w in zip(row, widths)))
        return "\n".join(lines)

    def __str__(self):
        return self.table()
