"""Pruning benchmark: MiniLM pruned with recovery, against an unpruned control.

    .venv/bin/python -m benchmarks.pruning --data ../shared/data/sara --recovery-epochs 1 --reuse

Fine-tunes MiniLM-L6-H384 (`--reuse`: from `--out`); every config (and the unpruned `control`)
trains `--recovery-epochs` more while pruning, is scored, stripped, exported to float32 TFLite
and timed per message in Keras and TFLite, interleaved. Peer (`--no-peer` skips it): a small
transformer twin pruned by tfmot (own process) and by `MagnitudePruning`, on the same batches.
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
from keras_compress.bench import KerasRunner, TFLiteRunner, format_table, machine
from keras_compress.callbacks import HeadPruning, MagnitudePruning, NeuronPruning
from keras_compress.evaluation import evaluate
from keras_compress.export import ExportConfig, Parity, to_tflite
from keras_compress.layers import MaskedDense, MaskedEinsumDense, PrunableAttention
from keras_compress.pruning import PolynomialDecay

CONFIGS = {"control": {}, **{f"unstructured_{p}": {"weights": p / 100} for p in (50, 70, 90)},
           **{f"neurons_{p}": {"neurons": p / 100} for p in (25, 50, 75)},
           **{f"heads_{p}": {"heads": p / 100} for p in (25, 50)},
           "heads50_neurons50": {"heads": 0.5, "neurons": 0.5}}
SWAPS = {"weights": {keras.layers.EinsumDense: MaskedEinsumDense, keras.layers.Dense: MaskedDense},
         "neurons": {keras.layers.Dense: MaskedDense},
         "heads": {keras.layers.MultiHeadAttention: PrunableAttention}}
PRUNERS = {  # (schedule, importance batches) -> callback, in the order they run
    "weights": lambda schedule, scoring: MagnitudePruning(schedule),
    "neurons": lambda schedule, scoring: NeuronPruning(schedule, data=scoring, num_batches=4),
    "heads": lambda schedule, scoring: HeadPruning(schedule, data=scoring, num_batches=4)}


def parse_args(argv=None):
    parser = common.run_parser(__doc__, "pruning")
    add = parser.add_argument
    add("--baseline-epochs", type=int, default=12)
    add("--lr", type=float, default=2e-4, help="fine-tuning learning rate")
    add("--recovery-epochs", type=float, default=1.0, help="extra epochs of every config")
    add("--recovery-lr", type=float, default=1e-4)
    add("--configs", default=",".join(list(CONFIGS)[1:]), help=f"a subset of {list(CONFIGS)}")
    add("--reuse", action="store_true", help="load the fine-tuned model of a run in --out")
    add("--no-peer", dest="peer", action="store_false", help="skip the tfmot peer")
    add("--peer-epochs", type=int, default=6)
    add("--peer-lr", type=float, default=1e-3)
    add("--peer-sparsities", type=lambda s: [float(x) for x in s.split(",")], default=[0.5, 0.8])
    add("--peer-seeds", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    args = common.finish_run_args(parser.parse_args(argv), argv, "pruning")
    args.configs = ["control"] + [c for c in args.configs.split(",") if c and c != "control"]
    if unknown := [c for c in args.configs if c not in CONFIGS]:
        parser.error(f"unknown configs {unknown}; choose from {list(CONFIGS)}")
    if args.quick:
        args.baseline_epochs, args.recovery_epochs = 1, 1.0
        args.peer_epochs, args.peer_seeds = 2, args.peer_seeds[:1]
    return args


def recover(spec, args, base_path, data):
    """`(model, steps, logged)`: the fine-tune with `spec`'s layers, pruned while it recovers."""
    keras.utils.set_random_seed(args.seed + 1)  # the same for every config
    model = keras.saving.load_model(base_path)
    if mapping := {old: new for kind in spec for old, new in SWAPS[kind].items()}:
        keras_compress.swap_layers(model, mapping)
    model.compile(optimizer=keras.optimizers.AdamW(args.recovery_lr), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    train = common.shuffled_batches(*data["train"], 32, args.seed + 1)
    steps = max(1, round(args.recovery_epochs * int(train.cardinality())))
    scoring = common.shuffled_batches(*data["train"], 32, args.seed + 2)  # importance batches
    callbacks = [make(common.schedule_for(spec[kind], steps), scoring)
                 for kind, make in PRUNERS.items() if kind in spec]
    history = model.fit(train.repeat(), steps_per_epoch=steps, epochs=1, verbose=0,
                        callbacks=callbacks)
    return model, steps, {k: float(v[-1]) for k, v in history.history.items()}


def run_config(name, args, base_path, data, out, label_names):
    """Recover, score, strip, export one config. Returns `(result, stripped model)`."""
    started = time.time()
    model, steps, logged = recover(CONFIGS[name], args, base_path, data)
    scores, plain = evaluate(model, *data["test"]), keras_compress.strip(model)
    report = to_tflite(plain, out / f"{name}.tflite", ExportConfig(sequence_lengths=args.buckets),
                       parity=Parity(data["valid"][0][:128], atol=None, min_agreement=None),
                       label_names=label_names, verbose=False)
    result = {"spec": CONFIGS[name], "recovery_steps": steps, "logged": logged, "test": scores,
              **common.structure(plain),
              "nonzero_weights": int(sum(np.count_nonzero(w) for w in plain.get_weights())),
              "tflite": {"path": report.path, "size_bytes": report.size_bytes,
                         "parity_valid": report.parity}, "seconds": round(time.time() - started)}
    log(f"{name}: {steps} steps, test {scores}, {result['params']:,} params, {result['seconds']}s")
    return result, plain


def peer(args, data, num_classes, out):
    """tfmot `prune_low_magnitude` (tf_keras, own process) vs `MagnitudePruning` (Keras 3)."""
    (folder := out / "peer").mkdir(parents=True, exist_ok=True)
    arrays, vocabulary = common.peer_data(data, folder, 32)
    spec = peer_spec(args, folder, len(vocabulary), num_classes, len(data["train"][0]))
    tfmot = _peer_model.run_tfmot(folder, lambda message: log(f"peer: {message}"))
    jobs = [{"name": f"sparsity {s}", "method": "prune", "sparsity": s} for s in spec["sparsities"]]
    sides = {"tfmot": tfmot.get("runs", []), "keras_compress": [
        _peer_model.run(keras, spec, arrays, seed, job, "keras_compress", masked(spec), log)
        for seed in spec["seeds"] for job in jobs]}
    return {"spec": spec, "rows": [peer_row(s, arrays["test_labels"], sides)
                                   for s in spec["sparsities"]], "tfmot_error": tfmot.get("error"),
            "tfmot_versions": (sides["tfmot"] or [{}])[0].get("versions"),
            "tfmot_seconds": tfmot["seconds"], "vocabulary": len(vocabulary)}


def peer_spec(args, folder, vocabulary_size, num_classes, num_train, batch_size=32):
    """Writes what both sides read: spec.json, the initial weights and batch order per seed."""
    total = args.peer_epochs * (num_train // batch_size)
    frequency = max(1, total // 40)
    begin = (total // 5) // frequency * frequency
    spec = {"data": str(folder / "data.npz"), "tfmot_out": str(folder / "tfmot.json"),
            "initial_weights": str(folder / "initial_weights_seed{seed}.npz"),
            "order": str(folder / "order_seed{seed}.npy"),
            "model": {"vocabulary_size": vocabulary_size, "sequence_length": 32,
                      "num_classes": num_classes, "num_layers": 2, "hidden_dim": 128,
                      "num_heads": 4, "intermediate_dim": 512, "dropout": 0.1},
            "learning_rate": args.peer_lr, "optimizer": "Adam", "batch_size": batch_size,
            "epochs": args.peer_epochs, "total_steps": total,
            "schedule": {"begin_step": begin, "frequency": frequency, "power": 3,
                         "end_step": begin + (total * 7 // 10 - begin) // frequency * frequency},
            "sparsities": [0.0] + args.peer_sparsities, "seeds": args.peer_seeds,
            "threads": args.threads}
    for seed in args.peer_seeds:
        keras.utils.set_random_seed(seed)
        model = _peer_model.build(keras, **spec["model"])
        np.savez(spec["initial_weights"].format(seed=seed), **_peer_model.weights_dict(model))
        np.save(spec["order"].format(seed=seed),
                _peer_model.training_order(num_train, args.peer_epochs, batch_size, seed))
    (folder / "spec.json").write_text(json.dumps(spec, indent=1))
    return spec


def masked(spec):
    """keras-compress's side for `_peer_model.run`: `MaskedDense` + `MagnitudePruning` on the
    twin's projection layers, stripped after training."""
    def compress(model, names, job):
        if not job["sparsity"]:
            return model, [], lambda model: model
        keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense},
                                   include=lambda layer, path: layer.name in names)
        return model, [MagnitudePruning(PolynomialDecay(0.0, job["sparsity"], **spec["schedule"]))], strip

    def strip(model):
        with keras.saving.custom_object_scope(_peer_model.custom_objects(keras)):
            return keras_compress.strip(model)

    return compress


def peer_row(sparsity, gold, sides):
    """Macro-F1 (per seed, mean), accuracy and kernel sparsity of each side at `sparsity`."""
    row = {"sparsity": sparsity}
    for side, runs in sides.items():
        if picked := [r for r in runs if r["sparsity"] == sparsity]:
            f1 = [metrics.macro_f1(gold, r["predicted"]) for r in picked]
            accuracy = [metrics.accuracy(gold, r["predicted"]) for r in picked]
            row[side] = {"macro_f1_per_seed": f1, "macro_f1_mean": float(np.mean(f1)),
                         "accuracy_mean": float(np.mean(accuracy)), "kernel_sparsity_mean":
                             float(np.mean([r["kernel_sparsity"] for r in picked]))}
            log(f"peer: {side}, sparsity {sparsity}: macro-F1 {row[side]['macro_f1_mean']:.4f}")
    return row


def table(results):
    """One row per config: scores, and ratios to the control of size and latency."""
    latency, control = results["latency"], results["configs"]["control"]
    return format_table([{
        "config": name, "macro-F1": c["test"]["macro_f1"], "accuracy": c["test"]["accuracy"],
        "heads": sum(c["heads_per_layer"]), "neurons": sum(c["neurons_per_layer"]),
        **{f"{key} / control": c[key] / control[key]
           for key in ("params", "encoder_params", "nonzero_weights")},
        **{f"{runtime} ms / control": latency[f"{name}/{runtime}"]["mean_ms"]
                                       / latency[f"control/{runtime}"]["mean_ms"]
           for runtime in ("keras", "tflite")},
        "TFLite macro-F1 (timed)": latency[f"{name}/tflite"]["macro_f1"],
        "TFLite MB": c["tflite"]["size_bytes"] / 1e6} for name, c in results["configs"].items()])


def main(argv=None):
    args = parse_args(argv)
    out = common.start(args.out, "pruning", args.argv, args.threads)
    data, label_ids = common.load_data(args.data, args.quick)
    base_path, finetune = common.fine_tune(data, len(label_ids), out, epochs=args.baseline_epochs,
                                           learning_rate=args.lr, seed=args.seed, reuse=args.reuse)
    texts, gold = common.evenly_spaced(*data["test"], args.timing_messages)
    results = {"command": common.command("pruning", args.argv), "machine": machine(),
               "date": datetime.date.today().isoformat(),
               "dataset": pathlib.Path(args.data).resolve().name, "num_classes": len(label_ids),
               "sizes": {s: len(t) for s, (t, _) in data.items()}, "finetune": finetune,
               "recovery_epochs": args.recovery_epochs, "recovery_lr": args.recovery_lr,
               "buckets": list(args.buckets), "threads": args.threads, "rounds": args.rounds,
               "config_order": args.configs, "configs": {}, "timed_messages": len(texts)}

    def save():
        (out / "results.json").write_text(json.dumps(results, indent=1))

    stripped = {}
    for name in args.configs:
        results["configs"][name], stripped[name] = run_config(
            name, args, base_path, data, out, sorted(label_ids, key=label_ids.get))
        gc.collect()
        save()
    runners = [runner for name, model in stripped.items() for runner in (  # every config, twice
        KerasRunner(model, sequence_lengths=args.buckets, name=f"{name}/keras"),
        TFLiteRunner(results["configs"][name]["tflite"]["path"], threads=args.threads,
                     name=f"{name}/tflite", tokenizer=model.preprocessor.tokenizer))]
    results["latency"], results["bucket_share"] = common.cold_latency(
        runners, texts, gold, args.rounds, args.warmup)
    save()
    if args.peer:
        results["peer"] = peer(args, data, len(label_ids), out)
    results["total_minutes"] = (time.time() - common.STARTED) / 60
    save()
    print(table(results))
    log(f"done in {results['total_minutes']:.1f} minutes; results in {out / 'results.json'}")


if __name__ == "__main__":
    main()
