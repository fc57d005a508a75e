"""Runs the benchmarks end to end and writes the summary of docs/benchmarks.md with its plot.

    .venv/bin/python benchmarks/run.py                     # everything: hours on 2 cores
    .venv/bin/python benchmarks/run.py --summary-only      # rebuild the summary from runs/

Each benchmark script prints its tables and writes a `results.json` (or the main job's
`report.json`) under runs/; this script runs them one after the other (`--only` picks some), then
writes the "## Summary" section: for each data set, one table of methods x (macro-F1,
accuracy, size, per-message latency ratio vs Keras fp32 in the same script run), and a
macro-F1-vs-speed plot (docs/img/pareto_<data>.png) with the Pareto front marked. The tfmot
peers' tables are in their own sections of docs/benchmarks.md.

Ratios are only taken within one script's run (every script times its variants
interleaved, message by message); rows from different scripts are not compared by their
absolute times, and every row names the run it comes from.
"""

import argparse
import json
import pathlib
import re
import shlex
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYTHON = sys.executable
DATA = ROOT.parent / "shared" / "data"

# The scripts, in the order they run, with the arguments of the documented runs.
TEACHERS = "runs/pruning/{data}/minilm_finetuned.keras"
STEPS = {name: ["-m", *shlex.split(line.format(data=shlex.quote(str(DATA))))] for name, line in {
    "pruning_sara": "benchmarks.pruning --data {data}/sara --baseline-epochs 12 --recovery-epochs 1",
    "pruning_clinc150": "benchmarks.pruning --data {data}/clinc150 --baseline-epochs 3 "
                        "--recovery-epochs 0.25 --no-peer --timing-messages 550 --configs "
                        "unstructured_50,neurons_50,heads_50,heads50_neurons50",
    "export_latency_sara": "benchmarks.export_latency --data {data}/sara --out "
                           "runs/export_latency/issue5_full --model " + TEACHERS.format(data="sara")
                           + " --prune-heads 0.5 --rounds 3",
    "distillation_sara": "benchmarks.distillation --data {data}/sara --teacher "
                         + TEACHERS.format(data="sara"),
    "distillation_clinc150": "benchmarks.distillation --data {data}/clinc150 --candidates 2L,3L "
                             "--student-epochs 3 --timing-messages 550 --teacher "
                             + TEACHERS.format(data="clinc150"),
    "export_latency_student_sara": "benchmarks.export_latency --data {data}/sara --out "
                                   "runs/export_latency/student_sara --model "
                                   "runs/distillation/sara/models/teacher.keras --compressed-model "
                                   "runs/distillation/sara/models/2L.keras --trim-vocabulary "
                                   "--bert-base 3L_ffn50 --peers onnx --rounds 3",
    "export_latency_student_clinc150": "benchmarks.export_latency --data {data}/clinc150 --out "
                                       "runs/export_latency/student_clinc150 --model "
                                       "runs/distillation/clinc150/models/teacher.keras "
                                       "--compressed-model runs/distillation/clinc150/models/"
                                       "2L.keras --trim-vocabulary --peers onnx --rounds 1 "
                                       "--buckets 8,16,32,64",
    "qat_clustering_sara": "benchmarks.qat_clustering --data {data}/sara",
    "peer_qat_clustering_sara": "benchmarks.peer_qat_clustering --data {data}/sara",
}.items()}

# The export runs of docs/benchmarks.md: pruned heads (issue 5), distilled students (issue 15).
EXPORT_RUNS = ("issue5_full", "student_sara", "student_clinc150")

# Export variants as rows: (key in results.json, label).
EXPORT_ROWS = (
    ("keras_fp32_64", "Keras fp32, padded to 64 (the 2019 serving)"),
    ("keras_int8_64", "Keras `model.quantize(\"int8\")`, 64"),
    ("onnx_int8_exact", "ONNX Runtime dynamic int8 of Keras's ONNX export, exact length"),
    ("tflite_dynamic_64", "TFLite dynamic int8, static 64"),
    ("tflite_buckets", "TFLite dynamic int8, length buckets"),
    ("onnx_int8_exact_compressed", "compressed, ONNX Runtime dynamic int8, exact length"),
    ("tflite_compressed", "**compressed, TFLite dynamic int8, buckets**"),
    ("tflite_compressed_trimmed", "compressed, TFLite dynamic int8, buckets, trimmed vocabulary"),
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help=f"comma-separated subset of {', '.join(STEPS)}")
    parser.add_argument("--summary-only", action="store_true",
                        help="run nothing; rebuild the summary from the results under runs/")
    parser.add_argument("--doc", default="docs/benchmarks.md")
    parser.add_argument("--plots", default="docs/img", help="folder for the PNG plots")
    args = parser.parse_args(argv)
    args.only = list(STEPS) if not args.only else args.only.split(",")
    unknown = [s for s in args.only if s not in STEPS]
    if unknown:
        parser.error(f"unknown steps {unknown}; choose from {list(STEPS)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if not args.summary_only:
        for name in args.only:
            command = [PYTHON, *STEPS[name]]
            print(f"[run.py] {name}: python {' '.join(command[1:])}", flush=True)
            started = time.time()
            subprocess.run(command, cwd=ROOT, check=True)
            print(f"[run.py] {name} done in {(time.time() - started) / 60:.1f} min", flush=True)
    rows = collect(ROOT)
    section = summary_markdown(rows, plots(rows, ROOT / args.plots, ROOT / args.doc))
    write_section(ROOT / args.doc, section)
    print(section)


# ------------------------------------------------------------------------- collecting rows


def collect(root):
    """`{data set: {run: [row]}}`; a row is a dict with method, macro_f1, accuracy,
    size_mb, speedup (Keras fp32 time / this method's time, same run) and source."""
    runs, rows = root / "runs", {}
    found = [(r["dataset"], pruning_rows(r, p.relative_to(root)))
             for p, r in _read(runs.glob("pruning/*/results.json")) if "latency" in r and r.get("dataset")]
    found += [(pathlib.Path(r["settings"]["data"]).name, report_rows(r, p.relative_to(root)))
              for p, r in _read([*runs.glob("*/*/report.json"), *runs.glob("*/report.json")])
              if "data" in r["settings"]]  # reports since 2026-11-29 name their data
    found += [(pathlib.Path(r.get("data", "sara")).name, export_rows(r, p.relative_to(root)))
              for p, r in _read(runs / "export_latency" / n / "results.json" for n in EXPORT_RUNS)]
    for data, run_rows in found:
        if run_rows:
            rows.setdefault(data, {})[run_rows[0]["source"]] = run_rows
    return rows


def _read(paths):
    """`(path, its JSON)` of each file that exists; smoke runs (`*_quick/`) left out."""
    return [(path, json.loads(path.read_text())) for path in sorted(paths)
            if path.is_file() and not path.parent.name.endswith("_quick")]


def pruning_rows(results, source):
    latency = results["latency"]
    reference = latency["control/keras"]["mean_ms"]
    date = results.get("date", "?")
    out = []
    for name in results["config_order"]:
        config = results["configs"].get(name)
        # Keras rows of the control only: stripped Keras models are in the Pruning section.
        for runtime in ("keras", "tflite") if name == "control" else ("tflite",):
            timed = latency.get(f"{name}/{runtime}")
            if config is None or timed is None:
                continue
            size = config.get("tflite", {}).get("size_bytes") if runtime == "tflite" else None
            out.append({
                "method": f"{name.replace('_', ' ')}, "
                          f"{'Keras fp32' if runtime == 'keras' else 'TFLite fp32, buckets'}",
                "macro_f1": config["test"]["macro_f1"],
                "accuracy": config["test"]["accuracy"],
                "size_mb": size / 1e6 if size else None,
                "speedup": reference / timed["mean_ms"],
                "speedup_median": latency["control/keras"]["median_ms"] / timed["median_ms"],
                "source": f"`benchmarks/pruning.py`, {date} ({source})",
            })
    return out


def report_rows(report, source):
    """The candidates of a `compress_text_classifier` report (the CLI's report.json);
    the reference is the Keras fp32 teacher padded to 64 tokens, in the same run."""
    return [{
        "method": f"{row['name']}, TFLite {row.get('quantization', 'dynamic int8')}, buckets"
                  + (" (chosen)" if row["name"] == report["chosen"] else ""),
        "macro_f1": row["tflite_test_macro_f1"],  # on the timed test messages
        "accuracy": row["tflite_test_accuracy"],
        "size_mb": row["size_mb"],
        "speedup": row["speedup_mean"],
        "speedup_median": row["speedup_median"],
        "source": f"`{report['settings'].get('command', 'keras-compress compress')}`, "
                  f"{report['settings'].get('date', '?')} ({source})",
    } for row in report.get("candidates", [])]


def export_rows(results, source):
    variants = results["variants"]
    if "keras_fp32_64" not in variants:
        return []
    reference = variants["keras_fp32_64"]
    date = results.get("date", "?")
    out = []
    prune = results.get("prune", {})
    compressed = (f"{prune['heads']:.0%} of heads pruned" if prune.get("heads") else
                  "the distilled student" if "--compressed-model" in results.get("command", "")
                  else "compressed")
    for key, label in EXPORT_ROWS:
        label = label.replace("compressed,", f"{compressed},")
        entry = variants.get(key)
        if entry is None or "mean_ms" not in entry:
            continue
        out.append({
            "method": label,
            "macro_f1": entry.get("macro_f1"),
            "accuracy": entry.get("accuracy"),
            "size_mb": entry.get("size_mb"),
            "speedup": reference["mean_ms"] / entry["mean_ms"],
            "speedup_median": reference["median_ms"] / entry["median_ms"],
            "source": f"`benchmarks/export_latency.py`, {date} ({source}; warm times: "
                      "each message's second call in a row)",
        })
    return out


def pareto_front(rows):
    """Rows no other row beats on both macro-F1 and speed (ties count as not beaten)."""
    scored = [r for r in rows if r["macro_f1"] is not None]
    return [
        r for r in scored
        if not any(o["macro_f1"] >= r["macro_f1"] and o["speedup"] >= r["speedup"]
                   and (o["macro_f1"], o["speedup"]) != (r["macro_f1"], r["speedup"])
                   for o in scored)
    ]


# ------------------------------------------------------------------------------- output


def plots(rows, folder, doc):
    """Writes one PNG per data set; returns `{data set: path relative to doc's folder}`."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("[run.py] matplotlib is not installed: no plots (pip install matplotlib)")
        return {}
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for data, runs in rows.items():
        runs = {source: [r for r in run_rows if r["macro_f1"] is not None and r["macro_f1"] > 0.3]
                for source, run_rows in runs.items()}
        runs = {source: run_rows for source, run_rows in runs.items() if run_rows}
        if not runs:
            continue
        # One panel per run: speed-ups of different runs have different references.
        figure, panels = plt.subplots(len(runs), 1, figsize=(8, 3.6 * len(runs)), squeeze=False)
        for axes, (source, run_rows) in zip(panels[:, 0], runs.items()):
            front = pareto_front(run_rows)
            for row in sorted(run_rows, key=lambda r: r["speedup"]):  # a legend, no labels
                on_front = row in front
                axes.scatter(row["speedup"], row["macro_f1"], s=60 if on_front else 25,
                             marker="*" if on_front else "o", zorder=3,
                             label=f"{re.sub(r'[*`]', '', row['method'])[:48]}: "
                                   f"{row['macro_f1']:.3f}, {row['speedup']:.1f}x")
            reference = ("the teacher's TFLite int8 export" if "reference:" in source
                         else "Keras fp32")
            axes.set_xscale("log")
            axes.set_xlabel(f"speed-up vs {reference} of this run (mean per-message latency)")
            axes.set_ylabel("test macro-F1")
            axes.set_title(f"{data}, {source.split(',')[0].strip('`')} (stars: Pareto front)",
                           fontsize=9)
            axes.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5))
            axes.grid(True, which="both", alpha=0.3)
        figure.tight_layout()
        path = folder / f"pareto_{data}.png"
        figure.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(figure)
        written[data] = path.relative_to(doc.parent).as_posix()
    return written


def summary_markdown(rows, plot_paths):
    from keras_compress.bench import format_table

    lines = [
        "## Summary",
        "",
        "Written by `.venv/bin/python benchmarks/run.py` (`--summary-only` rebuilds it from the",
        "results under `runs/`). Speed-up: the reference's mean (and median) per-message",
        "latency divided by the method's, both measured in the same script run (batch 1, 2",
        "threads); the reference is Keras fp32 unless the line above a table says otherwise.",
        "Rows of different runs are not comparable by speed-up. Macro-F1 and accuracy: of the",
        "Keras model on the whole test split for `pruning.py` rows, of the timed predictions",
        "for the other scripts' rows. Details, settings and caveats are in each run's section",
        "below.",
    ]
    for data, runs in rows.items():
        lines += ["", f"### {data}"]
        for source, run_rows in runs.items():
            front = pareto_front(run_rows)
            lines += ["", f"From {source}; (P): on the Pareto front of this run.", "",
                      format_table([{
                          "method": row["method"] + (" (P)" if row in front else ""),
                          "macro-F1": _fmt(row["macro_f1"], ".3f"),
                          "accuracy": _fmt(row["accuracy"], ".3f"),
                          "size MB": _fmt(row["size_mb"], ".1f"),
                          "speed-up (mean / median)":
                              f"{row['speedup']:.1f}x / {row['speedup_median']:.1f}x",
                      } for row in run_rows])]
        if data in plot_paths:
            lines += ["", f"![{data}: macro-F1 vs speed-up]({plot_paths[data]})"]
    return "\n".join(lines) + "\n"


def _fmt(value, spec):
    return "" if value is None else format(value, spec)


def write_section(path, section):
    """Puts `section` (starting with "## Summary") right after the doc's introduction."""
    text = path.read_text() if path.is_file() else "# Benchmarks\n\n"
    pattern = re.compile(r"^## Summary\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.rstrip("\n") + "\n\n", text, count=1)
    else:
        first = re.search(r"^## ", text, re.M)
        at = first.start() if first else len(text)
        text = text[:at] + section.rstrip("\n") + "\n\n" + text[at:]
    path.write_text(text.rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
