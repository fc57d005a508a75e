"""Pruning benchmark: MiniLM on Sara, pruned with recovery, against an unpruned control.

    .venv/bin/python -m benchmarks.pruning --data ../shared/data/sara

Issue 3. In one run:

1. Fine-tunes MiniLM-L6-H384 (keras-hub `BertTextClassifier`, sequence length 32) on the
   training split once (AdamW, `--lr`, `--baseline-epochs`, batch 32, a tf.data set
   reshuffled every epoch) and saves it under `--out`; `--reuse` loads it from there.
2. For every config (`--configs`): loads the fine-tuned model, swaps in keras-compress
   layers, trains `--recovery-epochs` more epochs (AdamW `--recovery-lr`) while pruning
   with the same `PolynomialDecay` schedule (sparsity 0 -> target over the first half of
   the recovery steps, 5 pruning events, then recovery only), evaluates macro-F1 and
   accuracy on test, strips, counts parameters, exports float32 TFLite (`to_tflite`, length
   buckets `--buckets`). The `control` config gets exactly the same extra training, with
   no pruning; every ratio is against it.
   - `unstructured_*`: `MagnitudePruning` (per layer) of every `MaskedEinsumDense` (query,
     key, value, attention output) and `MaskedDense` (FFN, pooler) kernel;
   - `neurons_*`: `NeuronPruning` (Taylor importance, per layer) of the FFN neurons;
   - `heads_*`: `HeadPruning` (gradient importance, global, >= 1 head per layer);
   - `heads50_neurons50`: both callbacks together.
3. Times every stripped model per message at batch 1 over the real test messages, in Keras
   (a `tf.function` on the numeric inputs; tokenization excluded) and in TFLite
   (`TFLiteClassifier.outputs`, `--threads` threads). Each message is packed to the smallest
   bucket holding it, the same packed ids for both runtimes. All variants run all messages
   in a block, blocks in rotated order, `--rounds` times; a message's time is its median
   over rounds, a variant's latency the mean over messages.
4. Peer (`--peer`, default on): a 2-layer transformer intent classifier (hidden 128, 4 heads,
   FFN 512; `benchmarks/_peer_model.py`) trained from scratch on the same token ids (MiniLM's
   WordPiece tokenizer, vocabulary cut to the training split's pieces), same initial
   weights, same batches, same steps, same `PolynomialDecay` schedule, once with tfmot's
   `prune_low_magnitude` in tf_keras (`benchmarks/tfmot_peer.py`, its own process) and once
   with `MagnitudePruning` on `MaskedDense` in Keras 3.
5. Writes `--out`/results.json, prints the tables, and (full runs) writes the "Pruning"
   section of `--doc` (docs/benchmarks.md), replacing only that section.

`--quick` is a smoke run of a few steps on small subsets (no doc written unless `--doc`).
"""

import datetime
import gc
import json
import pathlib
import time

import keras
import numpy as np

import keras_compress
from benchmarks import _peer_model, common
from benchmarks.common import log
from keras_compress import metrics
from keras_compress.bench import KerasRunner, TFLiteRunner, format_table, machine, machine_line
from keras_compress.callbacks import HeadPruning, MagnitudePruning, NeuronPruning
from keras_compress.evaluation import evaluate
from keras_compress.export import ExportConfig, Parity, to_tflite
from keras_compress.layers import MaskedDense, MaskedEinsumDense, PrunableAttention
from keras_compress.pruning import PolynomialDecay

CONFIGS = {
    "control": {},
    "unstructured_50": {"weights": 0.5},
    "unstructured_70": {"weights": 0.7},
    "unstructured_90": {"weights": 0.9},
    "neurons_25": {"neurons": 0.25},
    "neurons_50": {"neurons": 0.5},
    "neurons_75": {"neurons": 0.75},
    "heads_25": {"heads": 0.25},
    "heads_50": {"heads": 0.5},
    "heads50_neurons50": {"heads": 0.5, "neurons": 0.5},
}


def parse_args(argv=None):
    parser = common.run_parser(__doc__, "pruning")
    parser.add_argument("--baseline-epochs", type=int, default=12)
    parser.add_argument("--lr", type=float, default=2e-4, help="fine-tuning learning rate")
    parser.add_argument("--recovery-epochs", type=float, default=1.0,
                        help="extra epochs for every config, the control included")
    parser.add_argument("--recovery-lr", type=float, default=1e-4)
    parser.add_argument("--configs", default=",".join(c for c in CONFIGS if c != "control"),
                        help=f"comma-separated subset of {', '.join(CONFIGS)} (control always runs)")
    parser.add_argument("--reuse", action="store_true",
                        help="load the fine-tuned model saved by an earlier run in --out")
    parser.add_argument("--no-peer", dest="peer", action="store_false", help="skip the tfmot peer")
    parser.add_argument("--peer-epochs", type=int, default=6)
    parser.add_argument("--peer-lr", type=float, default=1e-3)
    parser.add_argument("--peer-sparsities", default="0.5,0.8")
    parser.add_argument("--peer-seeds", default="1,2")
    args = common.finish_run_args(parser.parse_args(argv), argv, "pruning")
    args.configs = ["control"] + [c for c in args.configs.split(",") if c and c != "control"]
    unknown = [c for c in args.configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configs {unknown}; choose from {list(CONFIGS)}")
    args.peer_sparsities = [float(s) for s in args.peer_sparsities.split(",")]
    args.peer_seeds = [int(s) for s in args.peer_seeds.split(",")]
    if args.quick:
        args.baseline_epochs, args.recovery_epochs = 1, 1.0
        args.peer_epochs, args.peer_seeds = 2, args.peer_seeds[:1]
    return args


# ---------------------------------------------------------------------------- one config


def run_config(name, args, base_path, data, out, label_names):


    spec = CONFIGS[name]
    started = time.time()
    keras.utils.set_random_seed(args.seed + 1)  # the same for every config
    model = keras.saving.load_model(base_path)
    mapping = {}
    if "heads" in spec:
        mapping[keras.layers.MultiHeadAttention] = PrunableAttention
    if "weights" in spec:
        mapping[keras.layers.EinsumDense] = MaskedEinsumDense
    if "weights" in spec or "neurons" in spec:
        mapping[keras.layers.Dense] = MaskedDense
    if mapping:
        keras_compress.swap_layers(model, mapping)
    model.compile(optimizer=keras.optimizers.AdamW(args.recovery_lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    train = common.shuffled_batches(*data["train"], 32, args.seed + 1)
    steps_per_epoch = int(train.cardinality())
    total_steps = max(1, int(round(args.recovery_epochs * steps_per_epoch)))
    scoring = common.shuffled_batches(*data["train"], 32, args.seed + 2)  # importance batches
    callbacks = []
    if "weights" in spec:
        callbacks.append(MagnitudePruning(common.schedule_for(spec["weights"], total_steps)))
    if "neurons" in spec:
        callbacks.append(NeuronPruning(common.schedule_for(spec["neurons"], total_steps), data=scoring,
                                       num_batches=4))
    if "heads" in spec:
        callbacks.append(HeadPruning(common.schedule_for(spec["heads"], total_steps), data=scoring,
                                     num_batches=4))
    log(f"{name}: {total_steps} recovery steps, lr {args.recovery_lr}, schedule "
        f"{({k: v for k, v in common.schedule_for(0.5, total_steps).get_config().items() if k in ('begin_step', 'end_step', 'frequency')}) if callbacks else 'none (control)'}")
    history = model.fit(train.repeat(), steps_per_epoch=total_steps, epochs=1, verbose=0,
                        callbacks=callbacks)
    train_seconds = time.time() - started
    stats = {k: float(v[-1]) for k, v in history.history.items()}
    scores = evaluate(model, *data["test"])
    log(f"{name}: trained in {train_seconds:.0f}s, {stats}; test {scores}")

    stripped = keras_compress.strip(model)
    check = common.pack_texts(model, data["valid"][0][:32], args.buckets[-1])
    strip_diff = float(np.max(np.abs(np.asarray(model(check, training=False))
                                     - np.asarray(stripped(check, training=False)))))
    tflite_path = out / f"{name}.tflite"
    report = to_tflite(stripped, tflite_path, ExportConfig(sequence_lengths=args.buckets),
                       parity=Parity(data["valid"][0][:128], atol=None, min_agreement=None),
                       label_names=label_names, verbose=False)
    result = {
        "spec": spec,
        "recovery_steps": total_steps,
        "train_seconds": round(train_seconds, 1),
        "logged": stats,
        "test": scores,
        **common.structure(stripped),
        "nonzero_weights": int(sum(np.count_nonzero(w) for w in stripped.get_weights())),
        "strip_max_abs_diff": strip_diff,
        "tflite": {"path": str(tflite_path), "size_bytes": report.size_bytes,
                   "parity_valid": report.parity},
        "seconds": round(time.time() - started, 1),
    }
    log(f"{name}: stripped: {result['params']:,} params, heads "
        f"{result['heads_per_layer']}, neurons {result['neurons_per_layer']}, "
        f"strip diff {strip_diff:.2g}; TFLite {report.size_bytes / 1e6:.1f} MB, parity "
        f"max diff {report.parity['max_abs_diff']:.2g}, agreement "
        f"{report.parity['label_agreement']:.3f}; {result['seconds']:.0f}s in all")
    del model, history, callbacks
    gc.collect()
    return result, stripped


# ---------------------------------------------------------------------------- latency


def time_variants(args, stripped_models, results, texts, gold):
    """Cold per-message latency at batch 1 of every stripped model in Keras and in TFLite,
    each message in its smallest bucket."""
    tokenizer = stripped_models["control"].preprocessor.tokenizer
    runners = []
    for name, model in stripped_models.items():
        runners.append(KerasRunner(model, sequence_lengths=args.buckets, name=f"{name}/keras"))
        runners.append(TFLiteRunner(results["configs"][name]["tflite"]["path"],
                                    threads=args.threads, name=f"{name}/tflite",
                                    tokenizer=tokenizer))
    return common.cold_latency(runners, texts, gold, args.rounds, args.warmup)


# ---------------------------------------------------------------------------- peer


def peer(args, data, num_classes, out):
    """tfmot prune_low_magnitude (tf_keras, own process) vs MagnitudePruning (Keras 3)."""


    folder = out / "peer"
    folder.mkdir(parents=True, exist_ok=True)
    length = 32
    arrays, vocabulary = common.peer_data(data, folder, length)

    batch_size = 32
    steps_per_epoch = len(data["train"][0]) // batch_size
    total = args.peer_epochs * steps_per_epoch
    frequency = max(1, total // 40)
    begin = (total // 5) // frequency * frequency
    end_step = begin + ((total * 7 // 10 - begin) // frequency) * frequency
    spec = {
        "data": str(folder / "data.npz"),
        "initial_weights": str(folder / "initial_weights_seed{seed}.npz"),
        "order": str(folder / "order_seed{seed}.npy"),
        "tfmot_out": str(folder / "tfmot.json"),
        "model": {"vocabulary_size": len(vocabulary), "sequence_length": length,
                  "num_classes": num_classes, "num_layers": 2, "hidden_dim": 128, "num_heads": 4,
                  "intermediate_dim": 512, "dropout": 0.1},
        "learning_rate": args.peer_lr, "optimizer": "Adam", "batch_size": batch_size,
        "epochs": args.peer_epochs, "total_steps": total,
        "schedule": {"begin_step": begin, "end_step": end_step, "frequency": frequency, "power": 3},
        "sparsities": [0.0] + args.peer_sparsities, "seeds": args.peer_seeds,
        "threads": args.threads,
    }
    for seed in args.peer_seeds:
        keras.utils.set_random_seed(seed)
        model = _peer_model.build(keras, **spec["model"])
        np.savez(spec["initial_weights"].format(seed=seed), **_peer_model.weights_dict(model))
        np.save(spec["order"].format(seed=seed),
                _peer_model.training_order(len(data["train"][0]), args.peer_epochs, batch_size, seed))
    (folder / "spec.json").write_text(json.dumps(spec, indent=1))
    log(f"peer: {len(vocabulary)} word pieces, {total} steps, schedule {spec['schedule']}")

    tfmot = _peer_model.run_tfmot(folder, lambda message: log(f"peer: {message}"))
    tfmot_seconds = tfmot.pop("seconds")

    # Keras 3 side, here.
    gold = arrays["test_labels"]
    ours = []
    started = time.time()
    pruned_names = _peer_model.pruned_layer_names(spec["model"]["num_layers"])
    for seed in args.peer_seeds:
        for sparsity in spec["sparsities"]:
            run_started = time.time()
            keras.utils.set_random_seed(seed)
            model = _peer_model.build(keras, **spec["model"])
            _peer_model.set_weights_dict(model, dict(np.load(spec["initial_weights"].format(seed=seed))))
            callbacks = []
            if sparsity:
                keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense},
                                           include=lambda layer, path: layer.name in pruned_names)
                callbacks.append(MagnitudePruning(PolynomialDecay(0.0, sparsity, **spec["schedule"])))
            model.compile(optimizer=keras.optimizers.Adam(args.peer_lr),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            order = np.load(spec["order"].format(seed=seed))
            x = {k: arrays[f"train_{k}"][order] for k in ("token_ids", "padding_mask")}
            model.fit(x, arrays["train_labels"][order], batch_size=batch_size, epochs=1,
                      shuffle=False, verbose=0, callbacks=callbacks)
            with keras.saving.custom_object_scope(_peer_model.custom_objects(keras)):
                plain = keras_compress.strip(model) if sparsity else model
            kernels = [np.asarray(plain.get_layer(n).kernel) for n in sorted(pruned_names)]
            logits = plain.predict({k: arrays[f"test_{k}"] for k in ("token_ids", "padding_mask")},
                                   batch_size=256, verbose=0)
            ours.append({"seed": seed, "sparsity": sparsity, "predicted": np.argmax(logits, -1).tolist(),
                         "kernel_sparsity": _peer_model.kernel_sparsity(kernels),
                         "seconds": round(time.time() - run_started, 1)})
            log(f"[keras-compress] seed {seed} sparsity {sparsity}: kernel sparsity "
                f"{ours[-1]['kernel_sparsity']:.3f}, {ours[-1]['seconds']:.0f}s")
    keras_seconds = time.time() - started

    rows = []
    for sparsity in spec["sparsities"]:
        row = {"sparsity": sparsity}
        for side, runs in (("tfmot", tfmot.get("runs", [])), ("keras_compress", ours)):
            picked = [r for r in runs if r["sparsity"] == sparsity]
            if not picked:
                continue
            f1 = [metrics.macro_f1(gold, r["predicted"]) for r in picked]
            acc = [metrics.accuracy(gold, r["predicted"]) for r in picked]
            row[side] = {"macro_f1_per_seed": f1, "macro_f1_mean": float(np.mean(f1)),
                         "accuracy_mean": float(np.mean(acc)),
                         "kernel_sparsity_mean": float(np.mean([r["kernel_sparsity"] for r in picked]))}
        rows.append(row)
        shown = {side: f"{row[side]['macro_f1_mean']:.4f}" for side in ("tfmot", "keras_compress") if side in row}
        log(f"peer: sparsity {sparsity}: macro-F1 {shown}")
    return {"spec": spec, "rows": rows, "tfmot_error": tfmot.get("error"),
            "tfmot_versions": (tfmot.get("runs") or [{}])[0].get("versions"),
            "tfmot_seconds": round(tfmot_seconds, 1), "keras_seconds": round(keras_seconds, 1),
            "vocabulary": len(vocabulary)}


# ---------------------------------------------------------------------------- report


def markdown(results):
    c = results["configs"]
    control = c["control"]
    lat = results.get("latency", {})
    names = [n for n in results["config_order"] if n in c]
    kc = lat.get("control/keras", {}).get("mean_ms")
    tc = lat.get("control/tflite", {}).get("mean_ms")
    ft = results["finetune"]
    n, total = results.get("timed_messages", 0), results["sizes"]["test"]
    timed = f"all {n} test messages" if n == total else f"{n} of the {total} test messages (evenly spaced)"
    lines = [
        section_title(results["dataset"]),
        "",
        f"MiniLM-L6-H384 (keras-hub `BertTextClassifier`, sequence length 32) on "
        f"{results['dataset']} ({results['sizes']['train']} train / {results['sizes']['test']} test "
        f"messages, {results['num_classes']} intents), from `benchmarks/pruning.py`. "
        f"Run on {results['date']}, {results['machine']} (shared with other jobs while it ran), "
        f"TensorFlow {results['versions']['tensorflow']}, Keras {results['versions']['keras']}, "
        f"keras-hub {results['versions']['keras_hub']}; {results['total_minutes']:.0f} minutes in all:",
        "",
        "```bash",
        results["command"],
        "```",
        "",
        f"- Fine-tune: {ft['recipe']['epochs']} epoch{'s' if ft['recipe']['epochs'] != 1 else ''}, AdamW lr {ft['recipe']['learning_rate']:g}, "
        f"batch 32, reshuffled every epoch: valid macro-F1 {ft['valid']['macro_f1']:.3f}, "
        f"test {ft['test']['macro_f1']:.3f} (accuracy {ft['test']['accuracy']:.3f})"
        + (f" (fine-tuned by an earlier run of this script in {ft['seconds'] / 60:.0f} minutes, "
           f"loaded with `--reuse`; not counted in the minutes above)" if results.get("reused")
           else "") + ".",
        f"- Every config, the unpruned control included, then trains "
        f"{control['recovery_steps']} more steps ({results['recovery_epochs']:g} "
        f"epoch{'s' if results['recovery_epochs'] != 1 else ''}, AdamW lr "
        f"{results['recovery_lr']:g}); pruning configs prune during them with the same "
        f"`PolynomialDecay` (0 -> target over the first half, pruning every eighth of the steps, "
        f"power 3, then recovery only; structured importance from 4 training batches per "
        f"event). Ratios are against that control.",
        "- Parameters: `keras_compress.strip(model).count_params()` (whole model, the 11.7M "
        "embedding parameters included) and the transformer layers only; unstructured "
        "pruning leaves dense kernels, so its saving shows in the non-zero weights only.",
        f"- Latency: per message, batch 1, {timed}, each packed to the smallest of the buckets {tuple(results['buckets'])} that holds it "
        f"(share {', '.join(f'{b}: {s:.0%}' for b, s in results['bucket_share'].items())}); Keras: "
        f"the stripped model in a `tf.function` on the numeric inputs (tokenization excluded); "
        f"TFLite: float32 `to_tflite(..., sequence_lengths={tuple(results['buckets'])})` run by "
        f"`TFLiteClassifier.outputs` with {results['threads']} threads. Median of "
        f"{results['rounds']} rounds per message, mean over messages; every message runs on all "
        f"variants, in a random order, before the next one, so the load of other jobs falls on "
        f"all variants alike. The "
        f"control's own times were {kc:.2f} ms (Keras) and {tc:.2f} ms (TFLite); they are "
        f"there for scale only, the machine was shared." if kc and tc else
        "- Latency: not measured in this run.",
        "",
    ]
    f0 = control["test"]["macro_f1"]
    rows = []
    for name in names:
        e = c[name]
        pruned = []
        if "weights" in e["spec"]:
            pruned.append(f"{e['logged'].get('sparsity', float('nan')):.0%} of weights")
        if "heads" in e["spec"]:
            pruned.append(f"{sum(e['heads_per_layer'])}/{sum(c['control']['heads_per_layer'])} heads kept")
        if "neurons" in e["spec"]:
            pruned.append(f"{sum(e['neurons_per_layer'])}/{sum(c['control']['neurons_per_layer'])} "
                          f"neurons kept")
        k = lat.get(f"{name}/keras", {})
        t = lat.get(f"{name}/tflite", {})
        rows.append({
            "config": name, "pruned": "; ".join(pruned) or "none",
            "macro-F1": f"{e['test']['macro_f1']:.3f}",
            "Δ macro-F1 (points)": f"{100 * (e['test']['macro_f1'] - f0):+.1f}",
            "accuracy": f"{e['test']['accuracy']:.3f}",
            "params": f"{common.ratio(e['params'], control['params']):.2f}",
            "transformer params": f"{common.ratio(e['encoder_params'], control['encoder_params']):.2f}",
            "non-zero weights": f"{common.ratio(e['nonzero_weights'], control['nonzero_weights']):.2f}",
            "Keras latency": f"{common.ratio(k.get('mean_ms', 0), kc):.2f}",
            "TFLite latency": f"{common.ratio(t.get('mean_ms', 0), tc):.2f}",
            "TFLite macro-F1": f"{t.get('macro_f1', float('nan')):.3f}",
        })
    lines.append(format_table(rows))
    lines += [
        "",
        f"The control has {control['params']:,} parameters ({control['encoder_params']:,} in the "
        f"transformer layers). Macro-F1 and accuracy are on the whole test split from the masked "
        f"Keras model; \"TFLite macro-F1\" is from the timed TFLite runs (the timed messages only). "
        f"Stripped vs masked outputs differ by at most "
        f"{max(e['strip_max_abs_diff'] for e in c.values()):.1g}; TFLite vs stripped Keras on "
        f"the first {control['tflite']['parity_valid']['samples']} valid messages by at most "
        f"{max(e['tflite']['parity_valid']['max_abs_diff'] for e in c.values()):.1g}.",
        "",
    ]
    p = results.get("peer")
    if p:
        s = p["spec"]
        lines += [
            "### Peer: tfmot `prune_low_magnitude` vs `MagnitudePruning`",
            "",
            f"A 2-layer transformer intent classifier (hidden 128, 4 heads, FFN 512, learned "
            f"positions, masked mean pooling; `benchmarks/_peer_model.py`) trained from scratch on "
            f"{results['dataset']}, once in tf_keras with tfmot's `prune_low_magnitude` on its "
            f"12 projection `Dense` layers (`benchmarks/tfmot_peer.py`, own process) and once in "
            f"Keras 3 with those layers swapped for `MaskedDense` and `MagnitudePruning` "
            f"(per layer). Both sides: the same token ids (MiniLM's WordPiece tokenizer, vocabulary "
            f"cut to the {p['vocabulary']} pieces seen in training, length {s['model']['sequence_length']}), "
            f"the same initial weights, the same batches in the same order, {s['total_steps']} steps "
            f"({s['epochs']} epochs, batch {s['batch_size']}, Adam lr {s['learning_rate']:g}), "
            f"`PolynomialDecay(0 -> target, begin_step={s['schedule']['begin_step']}, "
            f"end_step={s['schedule']['end_step']}, frequency={s['schedule']['frequency']}, power=3)`. "
            f"Test macro-F1, mean over seeds {s['seeds']}"
            + (f" (tfmot {p['tfmot_versions'].get('tfmot')}, tf_keras "
               f"{p['tfmot_versions'].get('tf_keras')})" if p.get("tfmot_versions") else "") + ":",
            "",
        ]
        if p.get("tfmot_error"):
            lines += [f"tfmot could not run here: `{p['tfmot_error']}`", ""]
        rows = []
        for row in p["rows"]:
            t, k = row.get("tfmot", {}), row.get("keras_compress", {})

            def cell(side, key):
                return f"{side[key]:.3f}" if key in side else "n/a"

            def per_seed(side):
                return " / ".join(f"{v:.3f}" for v in side.get("macro_f1_per_seed", [])) or "n/a"

            rows.append({
                "target sparsity": f"{row['sparsity']:.0%}" + ("" if row["sparsity"] else " (dense)"),
                "tfmot macro-F1": cell(t, "macro_f1_mean"),
                "keras-compress macro-F1": cell(k, "macro_f1_mean"),
                "tfmot per seed": per_seed(t), "keras-compress per seed": per_seed(k),
                "kernel sparsity reached (tfmot / keras-compress)":
                    f"{cell(t, 'kernel_sparsity_mean')} / {cell(k, 'kernel_sparsity_mean')}",
            })
        lines.append(format_table(rows))
        lines.append("")
    for note in results.get("notes", []):
        lines.append(f"- {note}")
    if results.get("notes"):
        lines.append("")
    return "\n".join(lines)


def section_title(dataset):
    """Sara keeps the plain title (links point at it); other data sets get their own section."""
    return "## Pruning" if dataset == "sara" else f"## Pruning on {dataset}"


# ---------------------------------------------------------------------------- main


def main(argv=None):
    args = parse_args(argv)
    out = common.start(args.out, "pruning", args.argv, args.threads)
    data, label_ids = common.load_data(args.data, args.quick)
    label_names = sorted(label_ids, key=label_ids.get)
    log(f"data {args.data}: " + ", ".join(f"{s} {len(t)}" for s, (t, _) in data.items())
        + f", {len(label_ids)} intents")
    base_path, finetune = common.fine_tune(data, len(label_ids), out, epochs=args.baseline_epochs,
                                           learning_rate=args.lr, seed=args.seed, reuse=args.reuse)

    info = machine()
    results = {"command": common.command("pruning", args.argv), "date": datetime.date.today().isoformat(),
               "machine": machine_line(info), "dataset": pathlib.Path(args.data).resolve().name,
               "sizes": {s: len(t) for s, (t, _) in data.items()}, "num_classes": len(label_ids),
               "versions": info,
               "finetune": finetune, "reused": bool(finetune.get("reused")),
               "recovery_epochs": args.recovery_epochs, "recovery_lr": args.recovery_lr,
               "buckets": list(args.buckets), "threads": args.threads, "rounds": args.rounds,
               "config_order": args.configs, "configs": {}, "notes": []}
    stripped = {}
    for name in args.configs:
        results["configs"][name], stripped[name] = run_config(name, args, base_path, data, out,
                                                              label_names)
        (out / "results.json").write_text(json.dumps(results, indent=1))

    texts, gold = common.evenly_spaced(*data["test"], args.timing_messages)
    results["timed_messages"] = len(texts)
    results["latency"], results["bucket_share"] = time_variants(args, stripped, results, texts, gold)
    del stripped
    gc.collect()
    (out / "results.json").write_text(json.dumps(results, indent=1))

    if args.peer:
        results["peer"] = peer(args, data, len(label_ids), out)
    results["total_minutes"] = (time.time() - common.STARTED) / 60
    (out / "results.json").write_text(json.dumps(results, indent=1))
    section = markdown(results)
    print("\n" + section)
    if args.doc:
        common.write_doc(args.doc, section)
        log(f"wrote the {section.splitlines()[0][3:]!r} section of {args.doc}")
    log(f"done in {results['total_minutes']:.1f} minutes; results in {out / 'results.json'}")


if __name__ == "__main__":
    main()
