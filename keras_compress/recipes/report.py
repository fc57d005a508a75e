"""`CompressReport`: what the main job tried, what it chose, and how fast and accurate it is."""

import dataclasses
import datetime
import json

from keras_compress import metrics
from keras_compress.bench import format_table

REFERENCE = "keras fp32 teacher"


@dataclasses.dataclass
class CompressReport:
    """The result of `compress_text_classifier`.

    Speed-ups are against `reference` (the Keras fp32 teacher, every message
    padded to 64 tokens, batch 1: the 2019 serving), measured message by
    message in one interleaved run with every export (`keras_compress.bench`),
    warm (a server running one model) unless said otherwise.

    Attributes:
        chosen: name of the chosen candidate.
        candidates: one dict per model: the teacher export and every tried
            candidate, with validation and test macro-F1 and accuracy (Keras),
            TFLite test macro-F1/accuracy, its difference from the teacher's
            export with a paired-bootstrap 95% interval (points, timed test
            messages), file size, latency, speed-ups and training epochs.
        teacher: the teacher's Keras scores (`timed_test_macro_f1`: of `reference`,
            on the timed test messages).
        speedup_median, speedup_mean: chosen export vs `reference` (warm).
        speedup_vs_teacher_export: chosen vs the teacher exported the same
            way (int8 + buckets), median, warm.
        macro_f1_change_points: chosen export's test macro-F1 minus the Keras
            fp32 teacher's (`reference`), both on the timed test messages, in points.
        size_ratio: the teacher's float32 weights over the chosen file.
        validation: how the validation split was made.
        settings: the config, the machine, the run's seconds.
    """

    chosen: str
    candidates: list
    teacher: dict
    speedup_median: float
    speedup_mean: float
    speedup_vs_teacher_export: float
    macro_f1_change_points: float
    size_ratio: float
    validation: str
    reference: str = REFERENCE
    settings: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def build(cls, *, teacher, tried, chosen, exports, timings, labels, config, note, machine,
              teacher_bytes, seconds, length, data):
        rows = []
        budget = {r["candidate"].name: r for r in tried}
        for name, export in exports.items():
            found = budget.get(name, {**teacher, "within_budget": None})
            tflite = timings.scores(name, labels)
            timed = labels[: timings.messages(name)]
            interval = [100 * v for v in metrics.paired_bootstrap(
                timed, timings.predictions(name), timings.predictions("teacher"))]
            rows.append({
                "name": name,
                "tried": name in budget,
                "within_budget": found.get("within_budget"),
                **{key: float(found[key]) for key in ("valid_macro_f1", "valid_accuracy",
                                                      "test_macro_f1", "test_accuracy")},
                "tflite_test_macro_f1": tflite["macro_f1"],
                "tflite_test_accuracy": tflite["accuracy"],
                "size_mb": export["bytes"] / 1e6,
                "median_ms": timings.stats(name, "warm")["median_ms"],
                "mean_ms": timings.stats(name, "warm")["mean_ms"],
                "cold_median_ms": timings.stats(name, "cold")["median_ms"],
                "speedup_median": timings.speedup(REFERENCE, name, "warm", "median"),
                "speedup_mean": timings.speedup(REFERENCE, name, "warm", "mean"),
                "cold_speedup_median": timings.speedup(REFERENCE, name, "cold", "median"),
                "test_f1_vs_teacher_export_points": interval,
                "epochs": found.get("epochs"), "best_epoch": found.get("best_epoch"),
            })
        best = next(r for r in rows if r["name"] == chosen.name)
        reference = timings.stats(REFERENCE, "warm")
        # The same messages on both sides (all of the test split, or the first timed ones).
        keras_f1 = timings.scores(REFERENCE, labels)["macro_f1"]
        return cls(
            chosen=chosen.name,
            candidates=rows,
            teacher={**{key: float(value) for key, value in teacher.items()},
                     "timed_test_macro_f1": float(keras_f1)},
            speedup_median=best["speedup_median"],
            speedup_mean=best["speedup_mean"],
            speedup_vs_teacher_export=timings.speedup("teacher", chosen.name, "warm", "median"),
            macro_f1_change_points=100 * (best["tflite_test_macro_f1"] - keras_f1),
            size_ratio=teacher_bytes / best["size_mb"] / 1e6,
            validation=note,
            settings={"config": _jsonable(dataclasses.asdict(config)), "machine": machine,
                      "seconds": round(seconds, 1), "reference_ms": reference,
                      "training_length": length, "data": data,
                      "date": datetime.date.today().isoformat(),
                      "timed_messages": timings.messages(REFERENCE),
                      "reference": f"Keras fp32 teacher, every message padded to "
                                   f"{timings.settings.get('reference_length', 64)} tokens, "
                                   "batch 1 (the 2019 serving)"},
        )

    def to_json(self):
        """The report as JSON (`report.json` of the command line)."""
        return json.dumps(_jsonable(dataclasses.asdict(self)), indent=2)

    def table(self):
        """Every model tried, one row each (the chosen one marked)."""
        rows = [{
            "model": row["name"] + (" (chosen)" if row["name"] == self.chosen else ""),
            "valid F1": f"{row['valid_macro_f1']:.4f}",
            "test F1 (tflite)": f"{row['tflite_test_macro_f1']:.4f}",
            "MB": f"{row['size_mb']:.1f}",
            "median ms": f"{row['median_ms']:.2f}",
            "speed-up": f"{row['speedup_median']:.1f}x",
            "test F1 vs teacher export, points (95%)": _interval(
                row.get("test_f1_vs_teacher_export_points")),
        } for row in self.candidates]
        return (format_table(rows) + f"\nspeed-up: vs {self.settings.get('reference', self.reference)}"
                f"; chosen {self.chosen}: {self.speedup_median:.1f}x median / "
                f"{self.speedup_mean:.1f}x mean, {self.speedup_vs_teacher_export:.2f}x the "
                f"teacher's export, {self.macro_f1_change_points:+.2f} macro-F1 points, "
                f"{self.size_ratio:.1f}x smaller; {self.validation}")

    def plot(self, path):
        """Test macro-F1 against median latency, one point per model, the chosen one marked.

        Returns None, or why no plot was drawn (matplotlib missing).
        """
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return "matplotlib is not installed (pip install matplotlib)"
        figure, axes = plt.subplots(figsize=(7.0, 4.6))
        reference_ms = self.settings.get("reference_ms", {}).get("median_ms")
        for row in self.candidates:  # a legend, not labels on points: close points collide
            chosen = row["name"] == self.chosen
            axes.scatter(row["median_ms"], row["tflite_test_macro_f1"], zorder=3,
                         s=180 if chosen else 60, marker="*" if chosen else "o",
                         label=f"{row['name']}{' (chosen)' if chosen else ''}: "
                               f"{row['tflite_test_macro_f1']:.3f}, {row['speedup_median']:.1f}x")
        if reference_ms:
            axes.axvline(reference_ms, color="grey", linestyle="--",
                         label=f"Keras fp32 teacher @64 tokens: {reference_ms:.1f} ms, "
                               f"F1 {self.teacher.get('timed_test_macro_f1', self.teacher['test_macro_f1']):.3f}")
        axes.set_xscale("log")
        axes.set_xlabel("median latency per message, batch 1, warm (ms, log scale)")
        axes.set_ylabel("test macro-F1 (TFLite)")
        axes.set_title("speed-up vs the Keras fp32 teacher padded to 64 tokens", fontsize=10)
        axes.legend(fontsize=8, loc="lower left")
        axes.grid(True, which="both", alpha=0.3)
        figure.tight_layout()
        figure.savefig(path, dpi=120)
        plt.close(figure)
        return None


def _interval(points):
    if not points:
        return ""
    difference, low, high = points
    return f"{difference:+.1f} [{low:+.1f}, {high:+.1f}]"


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value):
        return _jsonable(dataclasses.asdict(value))
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value
