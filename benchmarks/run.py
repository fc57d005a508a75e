"""Runs the benchmarks end to end and writes the summary of docs/benchmarks.md with its plot.

    .venv/bin/python benchmarks/run.py                     # everything: hours on 2 cores
    .venv/bin/python benchmarks/run.py --summary-only      # rebuild the summary from runs/

Each benchmark script writes its own section of docs/benchmarks.md and a `results.json`
under runs/; this script runs them one after the other (`--only` picks some) and then
writes the "## Summary" section: for each data set, one table of methods x (macro-F1,
accuracy, size, per-message latency ratio vs Keras fp32 in the same script run), and a
macro-F1-vs-speed plot (docs/img/pareto_<data>.png) with the Pareto front marked.

Ratios are only taken within one script's run (every script times its variants
interleaved, message by message); rows from different scripts are not compared by their
absolute times, and every row names the run it comes from.
"""

import argparse
import json
import pathlib
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYTHON = sys.executable
DATA = ROOT.parent / "shared" / "data"

# The scripts, in the order they run, with the arguments of the documented runs.
STEPS = {
    "pruning_sara": ["-m", "benchmarks.pruning", "--data", f"{DATA}/sara", "--baseline-epochs", "12",
                     "--recovery-epochs", "1"],
    "pruning_clinc150": ["-m", "benchmarks.pruning", "--data", f"{DATA}/clinc150",
                         "--baseline-epochs", "3", "--recovery-epochs", "0.25", "--configs",
                         "unstructured_50,neurons_50,heads_50,heads50_neurons50", "--no-peer",
                         "--timing-messages", "550"],
    "export_latency_sara": ["-m", "benchmarks.export_latency", "--data", f"{DATA}/sara",
                            "--out", "runs/export_latency/issue5_full",
                            "--model", "runs/pruning/sara/minilm_finetuned.keras",
                            "--prune-heads", "0.5", "--bert-base", "--bert-base-messages", "100",
                            "--skip-modes", "--rounds", "3"],
    "distillation_sara": ["-m", "benchmarks.distillation", "--data", f"{DATA}/sara",
                          "--teacher", "runs/pruning/sara/minilm_finetuned.keras"],
    "distillation_clinc150": ["-m", "benchmarks.distillation", "--data", f"{DATA}/clinc150",
                              "--teacher", "runs/pruning/clinc150/minilm_finetuned.keras",
                              "--candidates", "2L,3L", "--student-epochs", "3",
                              "--timing-messages", "550"],
    "export_latency_student_sara": ["-m", "benchmarks.export_latency", "--data", f"{DATA}/sara",
                                    "--out", "runs/export_latency/issue5_student",
                                    "--model", "runs/pruning/sara/minilm_finetuned.keras",
                                    "--compressed-model", "runs/distillation/sara/models/3L.keras",
                                    "--skip-modes", "--rounds", "3"],
    "qat_clustering_sara": ["-m", "benchmarks.qat_clustering", "--data", f"{DATA}/sara"],
    "peer_qat_clustering_sara": ["-m", "benchmarks.peer_qat_clustering", "--data", f"{DATA}/sara"],
}

# The export runs of docs/benchmarks.md (issue 5): pruned heads, and a distilled student.
EXPORT_RUNS = ("issue5_full", "issue5_student")

# Export variants as rows: (key in results.json, label).
EXPORT_ROWS = (
    ("keras_fp32_64", "Keras fp32, padded to 64 (the 2019 serving)"),
    ("keras_int8_64", "Keras `model.quantize(\"int8\")`, 64"),
    ("onnx_dynamic_int8_64", "ONNX Runtime dynamic int8 of Keras's ONNX export, 64"),
    ("tflite_dynamic_64", "TFLite dynamic int8, static 64"),
    ("tflite_buckets", "TFLite dynamic int8, length buckets"),
    ("tflite_compressed", "**compressed, TFLite dynamic int8, buckets**"),
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
    section = summary_markdown(rows, plots(rows, ROOT / args.plots, ROOT / args.doc),
                               collect_peers(ROOT))
    write_section(ROOT / args.doc, section)
    print(section)


# ------------------------------------------------------------------------- collecting rows


def collect(root):
    """`{data set: {run: [row]}}`; a row is a dict with method, macro_f1, accuracy,
    size_mb, speedup (Keras fp32 time / this method's time, same run) and source."""
    rows = {}
    for path in sorted((root / "runs" / "pruning").glob("*/results.json")):
        if path.parent.name.endswith("_quick"):
            continue  # smoke runs
        results = json.loads(path.read_text())
        if "latency" not in results or results.get("dataset") is None:
            continue
        found = pruning_rows(results, path.relative_to(root))
        if found:
            rows.setdefault(results["dataset"], {})[found[0]["source"]] = found
    for path in sorted((root / "runs").glob("*/*/report.json")) + sorted(
            (root / "runs").glob("*/report.json")):  # the main job and benchmarks/distillation.py
        report = json.loads(path.read_text())
        found = report_rows(report, path.relative_to(root))
        if found:
            data = pathlib.Path(report["settings"]["data"]).name
            rows.setdefault(data, {})[found[0]["source"]] = found
    for name in EXPORT_RUNS:
        export = root / "runs" / "export_latency" / name / "results.json"
        if export.is_file():
            found = export_rows(json.loads(export.read_text()), export.relative_to(root))
            if found:
                rows.setdefault("sara", {})[found[0]["source"]] = found
    return rows


def collect_peers(root):
    """`{data set: [peer row]}`: tfmot (tf_keras) vs keras_compress on the same small
    transformer twin, same data and steps; macro-F1 only (a different, smaller model)."""
    peers = {}
    for path in sorted((root / "runs" / "pruning").glob("*/results.json")):
        if path.parent.name.endswith("_quick"):
            continue
        results = json.loads(path.read_text())
        peer = results.get("peer") or {}
        for row in peer.get("rows", []):
            if not row.get("sparsity") or "tfmot" not in row:
                continue
            peers.setdefault(results["dataset"], []).append({
                "comparison": f"magnitude pruning to {row['sparsity']:.0%} "
                              "(`prune_low_magnitude` vs `MagnitudePruning`)",
                "tfmot": row["tfmot"]["macro_f1_mean"],
                "ours": row["keras_compress"]["macro_f1_mean"],
                "seeds": len(row["tfmot"]["macro_f1_per_seed"]),
                "source": f"`benchmarks/pruning.py`, {results.get('date', '?')} "
                          f"({path.relative_to(root)})",
            })
    labels = {"qat": "QAT int8 (`quantize_annotate_layer` + `quantize_apply` vs `QuantizedDense` "
                     "+ `QATToggle`)",
              "cluster4": "k-means, 4 clusters (`cluster_weights` vs `WeightClustering`)",
              "cluster16": "k-means, 16 clusters (`cluster_weights` vs `WeightClustering`)"}
    for path in sorted((root / "runs" / "peer_qat_clustering").glob("*/results.json")):
        if path.parent.name.endswith("_quick"):
            continue
        results = json.loads(path.read_text())
        for key, label in labels.items():
            tfmot, ours = results["tfmot"].get(key), results["keras_compress"].get(key)
            if not (tfmot and ours):
                continue
            peers.setdefault(results["dataset"], []).append({
                "comparison": label, "tfmot": tfmot["macro_f1_mean"],
                "ours": ours["macro_f1_mean"], "seeds": len(tfmot["macro_f1_per_seed"]),
                "source": f"`benchmarks/peer_qat_clustering.py`, {results.get('date', '?')} "
                          f"({path.relative_to(root)})",
            })
    return peers


def pruning_rows(results, source):
    latency = results["latency"]
    reference = latency["control/keras"]["mean_ms"]
    date = results.get("date", "?")
    out = []
    for name in results["config_order"]:
        config = results["configs"].get(name)
        if config is None:
            continue
        for runtime in ("keras", "tflite"):
            timed = latency.get(f"{name}/{runtime}")
            if timed is None:
                continue
            if runtime == "keras" and name != "control":
                continue  # stripped Keras models: in the Pruning section
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


def summary_markdown(rows, plot_paths, peers=None):
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
        peer_rows = (peers or {}).get(data, [])
        if peer_rows:
            lines += [
                "",
                "Peers on the small `tf_keras` / Keras 3 transformer twin (same code, initial "
                "weights, data order and steps on both sides; mean test macro-F1 over seeds):",
                "",
                format_table([{"comparison": r["comparison"], "tfmot": f"{r['tfmot']:.3f}",
                               "keras-compress": f"{r['ours']:.3f}", "seeds": r["seeds"],
                               "run": r["source"]} for r in peer_rows]),
            ]
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
