"""Distillation benchmark: MiniLM-L6 teacher vs distilled 3- and 2-layer students.

    .venv/bin/python -m benchmarks.distillation --data ../shared/data/sara \\
        --teacher runs/pruning/sara/minilm_finetuned.keras

Issue 6. In one run, on one data set (`--data`: Sara or CLINC150, `{train,valid,test}.jsonl`):

1. Teacher: the fine-tuned MiniLM-L6-H384 `BertTextClassifier` given by `--teacher` (its label
   ids must be the sorted intents of the training split, as in `benchmarks/pruning.py`), or,
   without it, fine-tuned here by `common.fine_tune` (`--teacher-epochs`, `--teacher-lr`;
   saved under `--out`, reused by a later run). Its logits on the training split are cached
   once (`cache_teacher_logits`).
2. Students, each `make_student(teacher, num_layers=N)` (uniform layer map, full width), all
   trained the same budget (`--epochs` epochs, AdamW `--lr`, batch 32, the same tf.data order
   reshuffled every epoch):
   - `3L_hard`, control: hard labels only (cross-entropy), to show what distillation adds;
   - `3L_logits`, `2L_logits`: cached teacher logits with `DistillationLoss(--temperature,
     --alpha)` (recipe 1 of docs/distillation.md);
   - `3L_intermediate`, `2L_intermediate`: `keras.distillation.Distiller` on `feature_model`
     views with `LogitsDistillation(T, KLDivergence())` (weight 1) plus, for every student
     layer j and its teacher layer, `HiddenStateDistillation` and `AttentionDistillation`
     (weight `--feature-weight` / N each), `student_loss_weight = 1 - alpha` (recipe 2);
   - `3L_pruned_int8`: the trained `3L_logits` student, then `--prune-epochs` more epochs on
     the cached logits while `HeadPruning` (`--prune-heads` of all heads, global) and
     `NeuronPruning` (`--prune-neurons` of each FFN, Taylor) prune with `common.schedule_for`
     (`PolynomialDecay` 0 -> target over the first half of the steps, then recovery only).
3. Every model (teacher included): test macro-F1 and accuracy in Keras, parameters after
   `keras_compress.strip`, `to_tflite(model, path, "dynamic", sequence_lengths=--buckets,
   parity_data=valid texts)`; the teacher is also exported float32 for scale.
4. Per-message TFLite latency at batch 1, `--threads` threads, over the test messages, all
   variants interleaved per message (`keras_compress.bench.time_messages`);
   ratios against the teacher's dynamic-int8 export timed in the same run.
5. Writes `--out`/results.json and `--out`/section.md, prints the table, and (full runs)
   writes the "Distillation (issue 6)" section of `--doc` (docs/benchmarks.md), replacing only
   that section.

`--quick` is a smoke run of a few steps on small subsets (no doc written unless `--doc`).
"""

import datetime
import gc
import json
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

import keras_compress
from benchmarks import common
from benchmarks.common import log
from keras_compress import metrics
from keras_compress.bench import TFLiteRunner, format_table, machine, machine_line
from keras_compress.callbacks import HeadPruning, NeuronPruning
from keras_compress.distillation import (
    AttentionDistillation,
    DistillationLoss,
    HardLabelAccuracy,
    HiddenStateDistillation,
    cache_teacher_logits,
    feature_model,
    make_student,
    pack_targets,
)
from keras_compress.evaluation import evaluate
from keras_compress.export import ExportConfig, Parity, TFLiteClassifier, to_tflite
from keras_compress.layers import MaskedDense, PrunableAttention

VARIANTS = {
    "3L_hard": {"layers": 3, "training": "hard labels only (cross-entropy)"},
    "3L_logits": {"layers": 3, "training": "cached teacher logits (`DistillationLoss`)"},
    "2L_logits": {"layers": 2, "training": "cached teacher logits (`DistillationLoss`)"},
    "3L_intermediate": {"layers": 3, "training": "`Distiller`: logits + hidden states + attention"},
    "2L_intermediate": {"layers": 2, "training": "`Distiller`: logits + hidden states + attention"},
    "3L_pruned_int8": {"layers": 3, "training": "3L_logits, then head + neuron pruning on cached logits"},
}


def parse_args(argv=None):
    parser = common.run_parser(__doc__, "distillation")
    parser.add_argument("--teacher", help="fine-tuned MiniLM .keras file (default: fine-tune one)")
    parser.add_argument("--teacher-epochs", type=int, default=12)
    parser.add_argument("--teacher-lr", type=float, default=2e-4)
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated subset of {', '.join(VARIANTS)}")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of every student")
    parser.add_argument("--lr", type=float, default=2e-4, help="AdamW learning rate of the students")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--alpha", type=float, default=0.5, help="weight of the soft (teacher) loss")
    parser.add_argument("--feature-weight", type=float, default=1.0,
                        help="total weight of the hidden-state losses, and of the attention losses")
    parser.add_argument("--prune-heads", type=float, default=1 / 3, help="fraction of heads removed")
    parser.add_argument("--prune-neurons", type=float, default=0.5, help="fraction of FFN neurons removed")
    parser.add_argument("--prune-epochs", type=float, default=1.0)
    parser.add_argument("--prune-lr", type=float, default=1e-4)
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild the section from --out/results.json (and --doc) without running")
    parser.add_argument("--bootstrap", type=int, default=1000,
                        help="paired bootstrap resamples of the test messages for the macro-F1 "
                        "differences (0: none); with --report-only, computed from the saved TFLite files")
    parser.add_argument("--reading", help="markdown file appended to the section (a reading of the "
                        "results, written after the run)")
    args = parser.parse_args(argv)
    args = common.finish_run_args(args, argv, "distillation", write_doc=not args.report_only)
    args.variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    if "3L_pruned_int8" in args.variants and "3L_logits" not in args.variants:
        parser.error("3L_pruned_int8 starts from 3L_logits: run both")
    if args.quick:
        args.teacher_epochs, args.epochs, args.prune_epochs = 1, 1, 1.0
    return args


# ---------------------------------------------------------------------------- teacher


def load_teacher(args, data, num_classes, out):


    if args.teacher:
        path = pathlib.Path(args.teacher)
        info_path = path.with_name("finetune.json")
        info = json.loads(info_path.read_text()) if info_path.is_file() else {}
        info = {"path": str(path), "recipe": info.get("recipe"), "given": True,
                "seconds": info.get("seconds")}
    else:
        path, info = common.fine_tune(data, num_classes, out, epochs=args.teacher_epochs,
                                      learning_rate=args.teacher_lr, seed=args.seed, reuse=True)
        info = {"path": str(path), "recipe": info["recipe"], "given": False,
                "reused": bool(info.get("reused")), "seconds": info.get("seconds")}
    teacher = keras.saving.load_model(path)
    if teacher.num_classes != num_classes:
        raise SystemExit(f"{path} has {teacher.num_classes} classes; {args.data} has {num_classes} intents")
    started = time.time()
    info["test"] = evaluate(teacher, *data["test"])
    info["valid"] = evaluate(teacher, *data["valid"])
    log(f"teacher {path}: test {info['test']}, valid {info['valid']} ({time.time() - started:.0f}s)")
    return teacher, info


# ---------------------------------------------------------------------------- students


def layer_pairs(student):
    """(teacher layer, student layer) for every student layer."""
    return [(t, s) for s, t in enumerate(student._keras_compress_student["layer_map"])]


def train_student(name, args, teacher, data, packed_y):
    """Builds and trains student `name` (not the pruned one); returns (student, info)."""


    spec = VARIANTS[name]
    texts, labels = data["train"]
    keras.utils.set_random_seed(args.seed + 1)  # the same initial state and batches for all
    student = make_student(teacher, num_layers=spec["layers"])
    pairs = layer_pairs(student)
    optimizer = keras.optimizers.AdamW(args.lr)
    info = {"layer_map": student._keras_compress_student["layer_map"], "epochs": args.epochs,
            "learning_rate": args.lr}
    started = time.time()
    if name.endswith("_intermediate"):
        per_layer = args.feature_weight / len(pairs)
        losses = [keras.distillation.LogitsDistillation(args.temperature,
                                                        loss=keras.losses.KLDivergence())]
        weights = [1.0]
        for t, s in pairs:
            losses += [HiddenStateDistillation(t, s), AttentionDistillation(t, s)]
            weights += [per_layer, per_layer]
        distiller = keras.distillation.Distiller(
            teacher=feature_model(teacher), student=feature_model(student),
            distillation_losses=losses, distillation_loss_weights=weights,
            student_loss_weight=1.0 - args.alpha)
        distiller.compile(optimizer=optimizer,
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        train = common.shuffled_batches(texts, labels, args.batch_size, args.seed + 1).map(
            teacher.preprocessor, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)
        history = distiller.fit(train, epochs=args.epochs, verbose=0,
                                callbacks=[common.EpochLog(name)])
        info["loss_weights"] = {"student (hard labels)": 1.0 - args.alpha,
                                "distillation, each scaled by": args.alpha,
                                "logits (KL, T^2)": 1.0, "hidden state per layer": per_layer,
                                "attention per layer": per_layer}
        del distiller
    else:
        if name.endswith("_hard"):
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            y, metrics = labels, ["accuracy"]
        else:
            loss = DistillationLoss(temperature=args.temperature, alpha=args.alpha)
            y, metrics = packed_y, [HardLabelAccuracy()]
        student.compile(optimizer=optimizer, loss=loss, metrics=metrics)
        train = common.shuffled_batches(texts, y, args.batch_size, args.seed + 1)
        history = student.fit(train, epochs=args.epochs, verbose=0,
                              callbacks=[common.EpochLog(name)])
    info["train_seconds"] = round(time.time() - started, 1)
    info["logged"] = {k: float(v[-1]) for k, v in history.history.items()}
    return student, info


def prune_student(args, base_path, data, packed_y):
    """The trained 3L_logits student, pruned (heads + neurons) with recovery on cached logits."""


    texts, _ = data["train"]
    keras.utils.set_random_seed(args.seed + 2)
    model = keras.saving.load_model(base_path, compile=False)
    keras_compress.swap_layers(model, {keras.layers.MultiHeadAttention: PrunableAttention,
                                       keras.layers.Dense: MaskedDense})
    model.compile(optimizer=keras.optimizers.AdamW(args.prune_lr),
                  loss=DistillationLoss(temperature=args.temperature, alpha=args.alpha),
                  metrics=[HardLabelAccuracy()])
    train = common.shuffled_batches(texts, packed_y, args.batch_size, args.seed + 2)
    scoring = common.shuffled_batches(texts, packed_y, args.batch_size, args.seed + 3)
    total_steps = max(1, int(round(args.prune_epochs * int(train.cardinality()))))
    heads = common.schedule_for(args.prune_heads, total_steps)
    neurons = common.schedule_for(args.prune_neurons, total_steps)
    callbacks = [HeadPruning(heads, data=scoring, num_batches=4),
                 NeuronPruning(neurons, data=scoring, num_batches=4), common.EpochLog("3L_pruned")]
    schedule = {k: v for k, v in heads.get_config().items()
                if k in ("begin_step", "end_step", "frequency", "power")}
    log(f"3L_pruned_int8: {total_steps} steps, lr {args.prune_lr}, heads {args.prune_heads:.3f}, "
        f"neurons {args.prune_neurons:.3f}, schedule {schedule}")
    started = time.time()
    history = model.fit(train.repeat(), steps_per_epoch=total_steps, epochs=1, verbose=0,
                        callbacks=callbacks)
    info = {"steps": total_steps, "learning_rate": args.prune_lr, "schedule": schedule,
            "heads_removed": args.prune_heads, "neurons_removed": args.prune_neurons,
            "train_seconds": round(time.time() - started, 1),
            "logged": {k: float(v[-1]) for k, v in history.history.items()}}
    return model, info


# ---------------------------------------------------------------------------- measurement


def measure(name, model, args, data, out, label_names, quantization="dynamic", evaluate_keras=True):
    """Keras test scores, stripped parameters, TFLite export; a dict."""
    started = time.time()
    result = {}
    if evaluate_keras:
        result["test"] = evaluate(model, *data["test"])
    result.update(common.structure(keras_compress.strip(model)))
    path = out / f"{name}.tflite"
    report = to_tflite(model, path, ExportConfig(quantization, sequence_lengths=args.buckets),
                       parity=Parity(data["valid"][0], atol=None, min_agreement=None),
                       label_names=label_names, verbose=False)
    result["tflite"] = {"path": str(path), "quantization": report.quantization,
                        "size_bytes": report.size_bytes, "parity_valid": report.parity}
    result["measure_seconds"] = round(time.time() - started, 1)
    shown = f"test {result['test']}, " if "test" in result else ""
    log(f"{name}: {shown}{result['params']:,} params (transformer {result['encoder_params']:,}), "
        f"heads {result['heads_per_layer']}, neurons {result['neurons_per_layer']}; TFLite "
        f"{report.quantization} {report.size_bytes / 1e6:.1f} MB, valid agreement "
        f"{report.parity['label_agreement']:.3f}, max diff {report.parity['max_abs_diff']:.2g}")
    return result


def time_tflite(args, results, tokenizer, texts, gold):
    """Cold per-message latency of every TFLite export."""
    runners = [TFLiteRunner(entry["tflite"]["path"], threads=args.threads, name=name,
                            tokenizer=tokenizer) for name, entry in results["models"].items()]
    return common.cold_latency(runners, texts, gold, args.rounds, args.warmup)


BOOTSTRAP_PAIRS = [("3L_hard", "teacher"), ("3L_logits", "teacher"), ("2L_logits", "teacher"),
                   ("3L_intermediate", "teacher"), ("2L_intermediate", "teacher"),
                   ("3L_pruned_int8", "teacher"), ("3L_logits", "3L_hard"),
                   ("3L_intermediate", "3L_logits"), ("2L_intermediate", "2L_logits"),
                   ("3L_pruned_int8", "3L_logits")]


def bootstrap(results, texts, gold, resamples, seed=0):
    """Paired bootstrap of test macro-F1 differences (points) between the TFLite exports: the
    same resampled messages for both models of a pair; `{"a - b": [difference, low, high]}`
    with the 95% interval. Test-sample noise only, not run-to-run (seed) noise."""
    models = results["models"]
    names = {n for pair in BOOTSTRAP_PAIRS for n in pair if n in models}
    predicted = {n: np.argmax(TFLiteClassifier(models[n]["tflite"]["path"], num_threads=2)
                              .predict(list(texts)).probabilities, -1) for n in names}
    rng = np.random.default_rng(seed)
    rows = [rng.integers(0, len(gold), len(gold)) for _ in range(resamples)]
    found = {}
    for a, b in BOOTSTRAP_PAIRS:
        if a not in predicted or b not in predicted:
            continue
        f1 = lambda n, r=slice(None): metrics.macro_f1(gold[r], predicted[n][r])  # noqa: E731
        differences = [f1(a, r) - f1(b, r) for r in rows]
        low, high = np.percentile(differences, [2.5, 97.5])
        found[f"{a} - {b}"] = [100 * (f1(a) - f1(b)), 100 * low, 100 * high]
    return found


# ---------------------------------------------------------------------------- report


def section_title(dataset):
    return "## Distillation (issue 6)" if dataset == "sara" else f"## Distillation on {dataset} (issue 6)"


def markdown(results):
    models = results["models"]
    teacher = models["teacher"]
    lat = results.get("latency", {})
    base_ms = lat.get("teacher", {}).get("mean_ms")
    fp32_ms = lat.get("teacher_fp32", {}).get("mean_ms")
    n, total = results.get("timed_messages", 0), results["sizes"]["test"]
    timed = f"all {n} test messages" if n == total else f"{n} of the {total} test messages (evenly spaced)"
    t = results["teacher"]
    recipe = t.get("recipe") or {}
    s = results["settings"]
    teacher_line = (
        "- Teacher: MiniLM-L6-H384 fine-tuned on the training split"
        + (f" ({recipe['epochs']} epochs, AdamW lr {recipe['learning_rate']:g}, batch "
           f"{recipe['batch_size']}, sequence length {recipe['sequence_length']})" if recipe else "")
        + (f", `{t['path']}` from an earlier run (`--teacher`; its fine-tune, "
           f"{t['seconds'] / 60:.0f} minutes, is not counted above)" if t.get("given") and t.get("seconds")
           else f", `{t['path']}`" + (" (given)" if t.get("given") else "")
           + (" (reused)" if t.get("reused") else ""))
        + f": test macro-F1 {t['test']['macro_f1']:.3f}, accuracy {t['test']['accuracy']:.3f}. "
        f"Its logits on the {results['sizes']['train']} training messages were cached once "
        f"({results['cache_seconds']:.0f} s).")
    lines = [
        section_title(results["dataset"]),
        "",
        f"A fine-tuned MiniLM-L6-H384 teacher (keras-hub `BertTextClassifier`, sequence length 32) "
        f"against students from `make_student(teacher, num_layers=N)` on {results['dataset']} "
        f"({results['sizes']['train']} train / {results['sizes']['valid']} valid / "
        f"{results['sizes']['test']} test messages, {results['num_classes']} intents), from "
        f"`benchmarks/distillation.py`. Run on {results['date']}, {results['machine']} (shared "
        f"with other jobs while it ran), "
        f"TensorFlow {results['versions']['tensorflow']}, Keras {results['versions']['keras']}, "
        f"keras-hub {results['versions']['keras_hub']}, ai-edge-litert "
        f"{results['versions']['ai_edge_litert']}; {results['total_minutes']:.0f} minutes in all:",
        "",
        "```bash",
        results["command"],
        "```",
        "",
        teacher_line,
        f"- Students: the uniform layer map (3 layers: teacher layers 1, 3, 5; 2 layers: 2, 5), full "
        f"width, embeddings, pooler and head copied. Each trains {s['epochs']} epoch"
        f"{'s' if s['epochs'] != 1 else ''} (AdamW lr {s['lr']:g}, batch {s['batch_size']}, the same "
        f"tf.data order reshuffled every epoch, same seed): `3L_hard` on the labels only; `*_logits` "
        f"on the cached logits with `DistillationLoss(temperature={s['temperature']:g}, "
        f"alpha={s['alpha']:g})`; `*_intermediate` with `keras.distillation.Distiller` on "
        f"`feature_model` views: `LogitsDistillation({s['temperature']:g}, KLDivergence())` "
        f"(weight 1) plus `HiddenStateDistillation` and `AttentionDistillation` on every student "
        f"layer and its teacher layer (weight {s['feature_weight']:g}/N each), "
        f"`student_loss_weight={1 - s['alpha']:g}` (the same mix of soft and hard loss as "
        f"`DistillationLoss`).",
    ]
    if "3L_pruned_int8" in models:
        p = models["3L_pruned_int8"]["train"]
        lines.append(
            f"- `3L_pruned_int8`: the trained `3L_logits` student, then {p['steps']} more steps "
            f"on the cached logits (AdamW lr {p['learning_rate']:g}) while `HeadPruning` "
            f"(gradient scores, global, {p['heads_removed']:.0%} of the heads) and `NeuronPruning` "
            f"(Taylor, {p['neurons_removed']:.0%} of each FFN) prune on `PolynomialDecay` "
            f"(0 -> target by step {p['schedule']['end_step']}, every {p['schedule']['frequency']} "
            f"steps, power {p['schedule']['power']}; then recovery only). Its row's training time "
            f"adds to `3L_logits`'s.")
    lines += [
        "- Every model, the teacher included, is exported with `to_tflite(model, path, \"dynamic\", "
        f"sequence_lengths={tuple(results['buckets'])}, parity_data=<the valid texts>)` (int8 "
        "weights, float activations); the teacher is also exported float32 (`teacher_fp32`) "
        "for scale. Parameters: `keras_compress.strip(model).count_params()` (the whole model; "
        f"{teacher['params'] - teacher['encoder_params']:,} of the teacher's "
        f"{teacher['params']:,} are outside the transformer layers, mostly embeddings) and the "
        "transformer layers alone.",
        (f"- Latency: TFLite per message, batch 1, {results['threads']} threads "
         f"(`TFLiteClassifier.outputs`, tokenization excluded), {timed}, each packed to the "
         f"smallest bucket holding it (share "
         f"{', '.join(f'{b}: {v:.0%}' for b, v in results['bucket_share'].items())}). Every "
         f"message runs on all variants, in a random order, before the next (`keras_compress.bench`, "
         f"as for pruning); median of {results['rounds']} rounds per message, mean over messages. "
         f"Ratios are against the teacher's dynamic export in this run: {base_ms:.2f} ms "
         f"(float32: {fp32_ms:.2f} ms); the absolute times are for scale only, the machine was "
         f"shared.") if base_ms else "- Latency: not measured in this run.",
        "",
    ]
    f0 = teacher["test"]["macro_f1"]
    rows = []
    for name in results["order"]:
        e = models[name]
        latency = lat.get(name, {})
        train = e.get("train", {})
        minutes = train.get("train_seconds")
        if name == "3L_pruned_int8" and minutes is not None:
            minutes += models["3L_logits"]["train"]["train_seconds"]
        training = ("float32 export of the teacher" if name == "teacher_fp32"
                    else "fine-tuned (teacher)" if name == "teacher"
                    else VARIANTS[name]["training"])
        if name == "3L_pruned_int8":
            training += (f"; {sum(e['heads_per_layer'])}/{sum(teacher['heads_per_layer'][:3])} heads, "
                         f"{sum(e['neurons_per_layer'])}/{3 * teacher['neurons_per_layer'][0]} "
                         "neurons kept")
        test = e.get("test") or teacher["test"]
        latency_ratio = (common.ratio(latency.get("mean_ms", float("nan")), base_ms)
                         if base_ms else float("nan"))
        rows.append({
            "model": name, "layers": e["layers"], "training": training,
            "macro-F1": f"{test['macro_f1']:.3f}",
            "Δ macro-F1 vs teacher (points)": f"{100 * (test['macro_f1'] - f0):+.1f}",
            "accuracy": f"{test['accuracy']:.3f}", "params": f"{e['params'] / 1e6:.1f}M",
            "params ratio": f"{common.ratio(e['params'], teacher['params']):.2f}",
            "transformer params ratio":
                f"{common.ratio(e['encoder_params'], teacher['encoder_params']):.2f}",
            "TFLite MB": f"{e['tflite']['size_bytes'] / 1e6:.1f}",
            "TFLite latency ratio": f"{latency_ratio:.2f}",
            "TFLite macro-F1": f"{latency.get('macro_f1', float('nan')):.3f}",
            "train min": "" if minutes is None else f"{minutes / 60:.1f}",
        })
    lines.append(format_table(rows))
    lines += [
        "",
        "Macro-F1 and accuracy are on the whole test split in Keras (`teacher_fp32` is the same "
        "Keras model as `teacher`); \"TFLite macro-F1\" is from the timed TFLite runs (the timed "
        "messages only). TFLite vs Keras label agreement on the valid messages: "
        + ", ".join(f"{name} {models[name]['tflite']['parity_valid']['label_agreement']:.3f}"
                    for name in results["order"]) + ".",
        "",
    ]
    boot = results.get("bootstrap")
    if boot:
        lines += [
            f"Paired bootstrap over the {results['sizes']['test']} test messages "
            f"({results['bootstrap_resamples']} resamples, TFLite predictions; test-sample noise "
            "only, one training seed per model): macro-F1 difference in points, 95% interval: "
            + "; ".join(f"{pair} {d:+.1f} [{lo:+.1f}, {hi:+.1f}]" for pair, (d, lo, hi) in boot.items())
            + ".",
            "",
        ]
    for note in results.get("notes", []):
        lines.append(f"- {note}")
    if results.get("notes"):
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- main


def main(argv=None):
    args = parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    common.LOG_FILE = out / "progress.log"
    if args.report_only:
        results = json.loads((out / "results.json").read_text())
        if args.bootstrap and "bootstrap" not in results:
            data, _ = common.load_data(args.data, args.quick)
            results["bootstrap"] = bootstrap(results, *data["test"], args.bootstrap)
            results["bootstrap_resamples"] = args.bootstrap
            results["notes"].append(
                "The bootstrap intervals were computed after the run, from its saved TFLite files "
                "(`--report-only`).")
            (out / "results.json").write_text(json.dumps(results, indent=1))
        write_report(args, results, out)
        return
    common.start(out, "distillation", args.argv, args.threads)
    data, label_ids = common.load_data(args.data, args.quick)
    label_names = sorted(label_ids, key=label_ids.get)
    log(f"data {args.data}: " + ", ".join(f"{s} {len(t)}" for s, (t, _) in data.items())
        + f", {len(label_ids)} intents")
    info = machine()
    results = {"command": common.command("distillation", args.argv),
               "date": datetime.date.today().isoformat(), "machine": machine_line(info),
               "dataset": pathlib.Path(args.data).resolve().name,
               "sizes": {s: len(t) for s, (t, _) in data.items()}, "num_classes": len(label_ids),
               "versions": info,
               "settings": {k: getattr(args, k) for k in (
                   "epochs", "lr", "batch_size", "temperature", "alpha", "feature_weight",
                   "prune_heads", "prune_neurons", "prune_epochs", "prune_lr", "seed")},
               "buckets": list(args.buckets), "threads": args.threads, "rounds": args.rounds,
               "order": [], "models": {}, "notes": []}

    def save():
        (out / "results.json").write_text(json.dumps(results, indent=1))

    teacher, results["teacher"] = load_teacher(args, data, len(label_ids), out)
    results["models"]["teacher"] = measure("teacher", teacher, args, data, out, label_names)
    results["models"]["teacher"]["layers"] = len(teacher.backbone.transformer_layers)
    results["models"]["teacher_fp32"] = measure("teacher_fp32", teacher, args, data, out, label_names,
                                                quantization=None, evaluate_keras=False)
    results["order"] += ["teacher", "teacher_fp32"]
    save()

    started = time.time()
    texts, labels = data["train"]
    logits = cache_teacher_logits(teacher, texts, batch_size=64)
    packed_y = pack_targets(labels, logits)
    results["cache_seconds"] = round(time.time() - started, 1)
    log(f"cached teacher logits {logits.shape} in {results['cache_seconds']:.0f}s; teacher train "
        f"accuracy {float(np.mean(np.argmax(logits, -1) == labels)):.3f}")

    for name in [v for v in VARIANTS if v in args.variants]:  # 3L_logits before the pruned one
        if name == "3L_pruned_int8":
            model, info = prune_student(args, out / "3L_logits.keras", data, packed_y)
        else:
            model, info = train_student(name, args, teacher, data, packed_y)
            model.save(out / f"{name}.keras")
        entry = measure(name, model, args, data, out, label_names)
        entry["train"] = info
        log(f"{name}: trained in {info['train_seconds']:.0f}s ({info['logged']})")
        results["models"][name] = entry
        results["order"].append(name)
        save()
        del model
        gc.collect()

    test_texts, gold = common.evenly_spaced(*data["test"], args.timing_messages)
    results["timed_messages"] = len(test_texts)
    results["latency"], results["bucket_share"] = time_tflite(
        args, results, teacher.preprocessor.tokenizer, test_texts, gold)
    if args.bootstrap:
        results["bootstrap"] = bootstrap(results, data["test"][0], data["test"][1], args.bootstrap)
        results["bootstrap_resamples"] = args.bootstrap
    results["total_minutes"] = (time.time() - common.STARTED) / 60
    save()
    write_report(args, results, out)
    log(f"done in {results['total_minutes']:.1f} minutes; results in {out / 'results.json'}")


def write_report(args, results, out):
    """`--out`/section.md, printed, and the section of `--doc` (replacing only that section)."""
    section = markdown(results)
    if getattr(args, "reading", None):
        section = section.rstrip("\n") + "\n\n" + pathlib.Path(args.reading).read_text().strip() + "\n"
    (out / "section.md").write_text(section)
    print("\n" + section)
    if args.doc:
        common.write_doc(args.doc, section)
        log(f"wrote the {section.splitlines()[0][3:]!r} section of {args.doc}")


if __name__ == "__main__":
    main()
