"""tfmot vs keras-compress QAT and k-means clustering on the peers' small transformer twin.

    .venv/bin/python -m benchmarks.peer_qat_clustering --data ../shared/data/sara

The float twin (per seed: Keras 3, the pruning peer's initial weights and batches) fine-tuned by
both sides on the same batches (`_peer_model.run`): `float`, `qat` (`quantize_annotate_layer` +
`quantize_apply` vs `QuantizedDense` + `QATToggle(start_step=0)`), `cluster<k>` (`cluster_weights`
vs `WeightClustering`, linear init). Prints test macro-F1 and distinct values per stripped kernel,
writes `--out`/results.json."""

import argparse
import datetime
import json
import pathlib
import sys

import keras
import numpy as np

import keras_compress
from benchmarks import _peer_model, common
from benchmarks.common import log
from keras_compress import metrics
from keras_compress.bench import format_table, machine, machine_line
from keras_compress.callbacks import QATToggle, WeightClustering
from keras_compress.layers import QuantizedDense


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--data", default="../shared/data/sara", help="folder with {train,valid,test}.jsonl")
    add("--out", help="output folder (default runs/peer_qat_clustering/<data name>[_quick])")
    add("--float-epochs", type=int, default=6, help="float training epochs")
    add("--float-lr", type=float, default=1e-3)
    add("--epochs", type=int, default=2, help="fine-tuning epochs of every variant")
    add("--lr", type=float, default=2e-4, help="fine-tuning learning rate")
    add("--clusters", type=lambda text: [int(k) for k in text.split(",")], default=[4, 16])
    add("--seeds", type=lambda text: [int(s) for s in text.split(",")], default=[1, 2])
    add("--threads", type=int, default=2)
    add("--quick", action="store_true", help="smoke run: subsets, one seed, 1+1 epochs")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.float_epochs, args.epochs, args.seeds = 1, 1, args.seeds[:1]
    args.dataset = pathlib.Path(args.data).resolve().name
    args.out = args.out or f"runs/peer_qat_clustering/{args.dataset}{'_quick' * args.quick}"
    return args


def main(argv=None):
    args = parse_args(argv)
    out = common.start(args.out, "peer_qat_clustering", args.argv, args.threads)
    data, label_ids = common.load_data(args.data, args.quick)
    arrays, vocabulary = common.peer_data(data, out, 32)
    spec = make_spec(args, out, len(vocabulary), len(label_ids), len(data["train"][0]))
    floats = [train_float(spec, arrays, seed) for seed in args.seeds]
    (out / "spec.json").write_text(json.dumps(spec, indent=1))
    tfmot = _peer_model.run_tfmot(out, log)
    ours = [_peer_model.run(keras, spec, arrays, seed, variant, "keras_compress", compress, log)
            for seed in args.seeds for variant in spec["variants"]]
    gold, info = arrays["test_labels"], machine()
    results = {
        "command": common.command("peer_qat_clustering", args.argv), "dataset": args.dataset,
        "date": datetime.date.today().isoformat(), "machine": machine_line(info), "versions": info,
        "sizes": {s: len(t) for s, (t, _) in data.items()}, "spec": spec,
        "float_macro_f1_per_seed": [metrics.macro_f1(gold, labels) for labels in floats],
        "tfmot_error": tfmot.get("error"), "tfmot_versions": tfmot.get("versions"),
        "quantize_model": tfmot.get("quantize_model"), "tfmot_seconds": tfmot["seconds"],
        "tfmot": summarize(tfmot.get("runs", []), gold), "keras_compress": summarize(ours, gold)}
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\n{args.dataset}, {results['machine']}\ntfmot error: {results['tfmot_error']}\ntfmot "
          f"quantize_model on the whole twin: {results['quantize_model']}\n" + format_table([
              {"variant": name, "side": side, **row} for side in ("tfmot", "keras_compress")
              for name, row in results[side].items()]))
    log(f"done; results in {out / 'results.json'}")


def make_spec(args, out, vocabulary_size, num_classes, num_train, batch_size=32):
    """What both sides read (`method` "qat_cluster" for `_peer_model.tfmot_side`)."""
    return {
        "method": "qat_cluster", "data": str(out / "data.npz"),
        "float_weights": str(out / "float_weights_seed{seed}.npz"),
        "order": str(out / "finetune_order_seed{seed}.npy"), "tfmot_out": str(out / "tfmot.json"),
        "model": {"vocabulary_size": vocabulary_size, "sequence_length": 32,
                  "num_classes": num_classes, "num_layers": 2, "hidden_dim": 128, "num_heads": 4,
                  "intermediate_dim": 512, "dropout": 0.1},
        "learning_rate": args.lr, "optimizer": "Adam", "batch_size": batch_size,
        "epochs": args.epochs, "total_steps": num_train // batch_size * args.epochs,
        "seeds": args.seeds, "threads": args.threads,
        "variants": [{"name": "float", "method": "float"}, {"name": "qat", "method": "qat"}] + [
            {"name": f"cluster{k}", "method": "cluster", "clusters": k} for k in args.clusters],
        "float_training": {"epochs": args.float_epochs, "learning_rate": args.float_lr}}


def train_float(spec, arrays, seed):
    """Saves the float twin of `seed` and the fine-tuning order (seed 1000 + seed): test labels."""
    train, batch, rows = spec["float_training"], spec["batch_size"], len(arrays["train_labels"])
    model = _peer_model.start(keras, spec, seed)  # the pruning peer's initial weights
    order = _peer_model.training_order(rows, train["epochs"], batch, seed)
    _peer_model.fit(keras, model, arrays, order, train["learning_rate"], batch)
    np.savez(spec["float_weights"].format(seed=seed), **_peer_model.weights_dict(model))
    order = _peer_model.training_order(rows, spec["epochs"], batch, 1000 + seed)
    np.save(spec["order"].format(seed=seed), order)
    return _peer_model.predict(model, arrays)


def compress(model, names, variant):
    """keras-compress on the layers `names` for `variant`: `(model, callbacks, strip)`."""
    def include(layer, path):
        return layer.name in names

    if variant["method"] == "qat":
        keras_compress.swap_layers(model, {keras.layers.Dense: QuantizedDense}, include=include)
        return model, [QATToggle(start_step=0)], strip
    if variant["method"] == "cluster":
        return model, [WeightClustering(variant["clusters"], init="linear", include=include)], strip
    return model, [], strip


def strip(model):
    with keras.saving.custom_object_scope(_peer_model.custom_objects(keras)):
        return keras_compress.strip(model)


def summarize(runs, gold):
    """Per variant: test macro-F1 per seed and mean, most distinct values in a stripped kernel."""
    rows = {}
    for run in runs:
        row = rows.setdefault(run["name"], {"macro_f1_per_seed": [], "max_distinct_values": 0})
        row["macro_f1_per_seed"].append(metrics.macro_f1(gold, run["predicted"]))
        row["max_distinct_values"] = max(row["max_distinct_values"], *run["distinct_values"])
        row["macro_f1_mean"] = float(np.mean(row["macro_f1_per_seed"]))
    return rows


if __name__ == "__main__":
    main()
