"""tfmot peer for QAT and clustering (issue 4): tfmot vs keras-compress on the 2-layer twin.

    .venv/bin/python -m benchmarks.peer_qat_clustering --data ../shared/data/sara

The same small transformer intent classifier as the pruning peer (`benchmarks/_peer_model.py`:
2 post-norm blocks, hidden 128, 4 heads, FFN 512; its 12 projection `Dense` layers are the
ones compressed, the classifier head is not), on the same token ids (`common.peer_data`:
MiniLM's WordPiece tokenizer, vocabulary cut to the training split's pieces, length 32).

Protocol, per seed (`--seeds`):

1. Float training, once, in Keras 3: the pruning peer's initial weights and batch order for
   that seed, `--float-epochs` epochs of Adam `--float-lr` (the pruning peer's dense run).
   Its weights are saved; both sides start every variant from them.
2. Every variant fine-tunes `--epochs` more epochs (Adam `--lr`, batch 32), both sides on the
   same batches in the same order (a second order, drawn from the seed), from the float weights:
   - `float`: no compression (the control of both sides);
   - `qat`: tfmot `quantize_annotate_layer` on the 12 `Dense` layers + `quantize_apply`
     (tfmot's `quantize_model` is tried first on the whole model and its error recorded:
     it refuses the model's custom layers) vs `swap_layers` `QuantizedDense` into the same
     layers + `QATToggle(start_step=0)`: both quantized from the first fine-tuning step,
     ranges never frozen;
   - `cluster<k>` (`--clusters`): tfmot `cluster_weights(number_of_clusters=k,
     cluster_centroids_init=LINEAR)` on the 12 layers vs `WeightClustering(n_clusters=k,
     init="linear")` restricted to them (clusters at the first step).
3. Test macro-F1 (keras_compress.metrics, the same code for both sides) of every model as
   trained (QAT: int8 fake quantization on), distinct values per stripped kernel
   (`strip_clustering` / `keras_compress.strip`), and for `float` and `qat` a TFLite file
   from each side (`Optimize.DEFAULT`, no representative data, batch 1; the same
   `_peer_model.tflite_bytes` for both): its size and its macro-F1 over the test messages.

The tfmot side runs in its own process (`benchmarks/tfmot_peer.py`, spec `method`
`qat_cluster`): importing tfmot sets TF_USE_LEGACY_KERAS=1. Writes `--out`/results.json and
`--out`/section.md (the docs/benchmarks.md section; `--doc` writes it there too).
`--quick` is a smoke run on small subsets, one seed.
"""

import argparse
import datetime
import json
import pathlib
import re
import sys
import time

import keras
import numpy as np
import tensorflow as tf

import keras_compress
from benchmarks import _peer_model, common
from benchmarks.common import log
from keras_compress import metrics
from keras_compress.bench import format_table, machine, machine_line
from keras_compress.callbacks import QATToggle, WeightClustering
from keras_compress.layers import QuantizedDense

TITLE = "## tfmot peer: QAT and clustering (issue 4)"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data/sara", help="folder with {train,valid,test}.jsonl")
    parser.add_argument("--out", help="output folder (default runs/peer_qat_clustering/<data name>[_quick])")
    parser.add_argument("--float-epochs", type=int, default=6, help="float training epochs")
    parser.add_argument("--float-lr", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs of every variant")
    parser.add_argument("--lr", type=float, default=2e-4, help="fine-tuning learning rate")
    parser.add_argument("--clusters", default="4,16")
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-tflite", dest="tflite", action="store_false")
    parser.add_argument("--quick", action="store_true", help="smoke run: subsets, one seed, 1+1 epochs")
    parser.add_argument("--doc", help="also write the section into this markdown file")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.clusters = [int(k) for k in args.clusters.split(",") if k]
    args.seeds = [int(s) for s in args.seeds.split(",") if s]
    if args.quick:
        args.float_epochs, args.epochs, args.seeds = 1, 1, args.seeds[:1]
    if args.out is None:
        name = pathlib.Path(args.data).resolve().name
        args.out = f"runs/peer_qat_clustering/{name}{'_quick' if args.quick else ''}"
    return args


def variants(clusters):
    return ([{"name": "float", "method": "float"}, {"name": "qat", "method": "qat"}]
            + [{"name": f"cluster{k}", "method": "cluster", "clusters": k} for k in clusters])


def train_float(spec, arrays, seed, float_epochs, float_lr):
    """The float model both sides start from: the pruning peer's dense run for `seed`."""
    started = time.time()
    keras.utils.set_random_seed(seed)
    model = _peer_model.build(keras, **spec["model"])  # common.peer's initial weights
    model.compile(optimizer=keras.optimizers.Adam(float_lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    order = _peer_model.training_order(len(arrays["train_labels"]), float_epochs,
                                       spec["batch_size"], seed)
    x = {k: arrays[f"train_{k}"][order] for k in ("token_ids", "padding_mask")}
    model.fit(x, arrays["train_labels"][order], batch_size=spec["batch_size"], epochs=1,
              shuffle=False, verbose=0)
    np.savez(spec["float_weights"].format(seed=seed), **_peer_model.weights_dict(model))
    predicted = predict(model, arrays)
    log(f"float model, seed {seed}: {len(order) // spec['batch_size']} steps, "
        f"{time.time() - started:.0f}s")
    return {"seed": seed, "predicted": predicted, "steps": len(order) // spec["batch_size"],
            "seconds": round(time.time() - started, 1)}


def predict(model, arrays):
    test = {k: arrays[f"test_{k}"] for k in ("token_ids", "padding_mask")}
    return np.argmax(model.predict(test, batch_size=256, verbose=0), -1).tolist()


def train_ours(spec, arrays, seed, variant):
    """One variant on the Keras 3 side."""


    keras.utils.set_random_seed(seed)
    model = _peer_model.build(keras, **spec["model"])
    _peer_model.set_weights_dict(model, dict(np.load(spec["float_weights"].format(seed=seed))))
    names = set(_peer_model.pruned_layer_names(spec["model"]["num_layers"]))

    def in_scope(layer, path):
        return layer.name in names

    callbacks = []
    if variant["method"] == "qat":
        keras_compress.swap_layers(model, {keras.layers.Dense: QuantizedDense}, include=in_scope)
        callbacks.append(QATToggle(start_step=0))
    elif variant["method"] == "cluster":
        callbacks.append(WeightClustering(n_clusters=variant["clusters"], init="linear",
                                          include=in_scope))
    model.compile(optimizer=keras.optimizers.Adam(spec["learning_rate"]),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    order = np.load(spec["order"].format(seed=seed))
    x = {k: arrays[f"train_{k}"][order] for k in ("token_ids", "padding_mask")}
    model.fit(x, arrays["train_labels"][order], batch_size=spec["batch_size"], epochs=1,
              shuffle=False, verbose=0, callbacks=callbacks)
    compressed = sorted(type(layer).__name__ for layer in model.layers if layer.name in names)
    run = {"predicted": predict(model, arrays),
           "layer_types": {t: compressed.count(t) for t in set(compressed)}}
    if variant["method"] in ("float", "qat") and spec["tflite"]:
        # The QAT layers are kept (quantization on): the converter folds their fake quantization.
        path = pathlib.Path(spec["tflite"].format(side="keras_compress", name=variant["name"], seed=seed))
        path.write_bytes(_peer_model.tflite_bytes(model, spec["model"]["sequence_length"]))
        run["tflite"] = str(path)
    with keras.saving.custom_object_scope(_peer_model.custom_objects(keras)):
        plain = keras_compress.strip(model)
    run["distinct_values"] = _peer_model.distinct_values(
        [np.asarray(plain.get_layer(n).kernel) for n in sorted(names)])
    return run


def tflite_ops(interpreter):
    """What the converter made of the 13 `Dense` layers: `FULLY_CONNECTED` ops by dtype of
    (input, weights), e.g. `{"int8 x int8": 12, "float32 x float32": 1}`, and the number of
    `QUANTIZE` / `DEQUANTIZE` ops."""
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()  # no public API lists the ops
    kinds = {}
    for op in ops:
        if op["op_name"] == "FULLY_CONNECTED":
            kind = " x ".join(np.dtype(tensors[i]["dtype"]).name for i in op["inputs"][:2])
            kinds[kind] = kinds.get(kind, 0) + 1
    return {"fully_connected": kinds,
            "quantize": sum(op["op_name"] == "QUANTIZE" for op in ops),
            "dequantize": sum(op["op_name"] == "DEQUANTIZE" for op in ops)}


def tflite_predict(path, arrays):
    """Labels of the test messages from a TFLite file, one message at a time (batch 1), and
    `tflite_ops`."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    ops = tflite_ops(interpreter)
    runner = interpreter.get_signature_runner()
    predicted = []
    for i in range(len(arrays["test_labels"])):
        outputs = runner(token_ids=arrays["test_token_ids"][i:i + 1],
                         padding_mask=arrays["test_padding_mask"][i:i + 1])
        predicted.append(int(np.argmax(outputs["logits"])))
    return predicted, ops


def summarize(runs, gold, arrays):
    """Per variant: macro-F1 per seed and mean, distinct values, TFLite size and macro-F1."""
    rows = {}
    controls = {run["seed"]: np.asarray(run["predicted"]) for run in runs if run["name"] == "float"}
    for run in runs:
        row = rows.setdefault(run["name"], {"macro_f1_per_seed": [], "accuracy_per_seed": [],
                                            "max_distinct_values": [], "tflite_bytes": [],
                                            "tflite_macro_f1_per_seed": [], "tflite_agreement": [],
                                            "agreement_with_float": []})
        if run["seed"] in controls:  # test labels equal to the same side's float control
            row["agreement_with_float"].append(
                float(np.mean(np.asarray(run["predicted"]) == controls[run["seed"]])))
        row["macro_f1_per_seed"].append(metrics.macro_f1(gold, run["predicted"]))
        row["accuracy_per_seed"].append(metrics.accuracy(gold, run["predicted"]))
        row["max_distinct_values"].append(max(run["distinct_values"]))
        row["layer_types"] = run.get("layer_types")
        if run.get("tflite"):
            predicted, row["tflite_ops"] = tflite_predict(run["tflite"], arrays)
            row["tflite_bytes"].append(pathlib.Path(run["tflite"]).stat().st_size)
            row["tflite_macro_f1_per_seed"].append(metrics.macro_f1(gold, predicted))
            row["tflite_agreement"].append(float(np.mean(np.asarray(predicted) == np.asarray(run["predicted"]))))
    for row in rows.values():
        row["macro_f1_mean"] = float(np.mean(row["macro_f1_per_seed"]))
        row["accuracy_mean"] = float(np.mean(row["accuracy_per_seed"]))
        if row["tflite_macro_f1_per_seed"]:
            row["tflite_macro_f1_mean"] = float(np.mean(row["tflite_macro_f1_per_seed"]))
    return rows


def main(argv=None):
    args = parse_args(argv)
    out = common.start(args.out, "peer_qat_clustering", args.argv, args.threads)

    data, label_ids = common.load_data(args.data, args.quick)
    arrays, vocabulary = common.peer_data(data, out, 32)
    gold = arrays["test_labels"]
    batch_size = 32
    steps = len(data["train"][0]) // batch_size * args.epochs
    spec = {
        "method": "qat_cluster",
        "data": str(out / "data.npz"),
        "float_weights": str(out / "float_weights_seed{seed}.npz"),
        "order": str(out / "finetune_order_seed{seed}.npy"),
        "tflite": str(out / "{side}_{name}_seed{seed}.tflite") if args.tflite else None,
        "tfmot_out": str(out / "tfmot.json"),
        "model": {"vocabulary_size": len(vocabulary), "sequence_length": 32,
                  "num_classes": len(label_ids), "num_layers": 2, "hidden_dim": 128,
                  "num_heads": 4, "intermediate_dim": 512, "dropout": 0.1},
        "learning_rate": args.lr, "optimizer": "Adam", "batch_size": batch_size,
        "epochs": args.epochs, "total_steps": steps, "seeds": args.seeds,
        "variants": variants(args.clusters), "threads": args.threads,
        "float_training": {"epochs": args.float_epochs, "learning_rate": args.float_lr},
    }
    log(f"data {args.data}: " + ", ".join(f"{s} {len(t)}" for s, (t, _) in data.items())
        + f", {len(label_ids)} intents, {len(vocabulary)} word pieces; {steps} fine-tuning steps")
    started = time.time()
    floats = []
    for seed in args.seeds:
        floats.append(train_float(spec, arrays, seed, args.float_epochs, args.float_lr))
        # The fine-tuning order: drawn from the seed, independent of the float training's.
        np.save(spec["order"].format(seed=seed), _peer_model.training_order(
            len(arrays["train_labels"]), args.epochs, batch_size, 1000 + seed))
    float_seconds = time.time() - started
    (out / "spec.json").write_text(json.dumps(spec, indent=1))

    tfmot = _peer_model.run_tfmot(out, log)

    ours = []
    started = time.time()
    for seed in args.seeds:
        for variant in spec["variants"]:
            run_started = time.time()
            run = train_ours(spec, arrays, seed, variant)
            run.update(seed=seed, name=variant["name"], seconds=round(time.time() - run_started, 1))
            ours.append(run)
            log(f"[keras-compress] seed {seed} {variant['name']}: distinct values per kernel "
                f"<= {max(run['distinct_values'])}, {run['seconds']:.0f}s")
            (out / "keras_compress.json").write_text(json.dumps({"runs": ours}, indent=1))
    keras_seconds = time.time() - started

    results = {
        "command": common.command("peer_qat_clustering", args.argv),
        "date": datetime.date.today().isoformat(), "machine": machine_line(machine()),
        "dataset": pathlib.Path(args.data).resolve().name,
        "sizes": {s: len(t) for s, (t, _) in data.items()}, "num_classes": len(label_ids),
        "vocabulary": len(vocabulary), "spec": spec,
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__,
                     **{k: v for k, v in (tfmot.get("versions") or {}).items() if k != "tensorflow"}},
        "float": {"macro_f1_per_seed": [metrics.macro_f1(gold, f["predicted"]) for f in floats],
                  "steps": floats[0]["steps"], "seconds": round(float_seconds, 1)},
        "tfmot_error": tfmot.get("error"), "quantize_model": tfmot.get("quantize_model"),
        "tfmot_seconds": tfmot["seconds"], "keras_seconds": round(keras_seconds, 1),
        "tfmot": summarize(tfmot.get("runs", []), gold, arrays),
        "keras_compress": summarize(ours, gold, arrays),
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    section = markdown(results)
    (out / "section.md").write_text(section + "\n")
    print("\n" + section)
    if args.doc:
        common.write_doc(args.doc, section)
        log(f"wrote the {TITLE[3:]!r} section of {args.doc}")
    log(f"done; results in {out / 'results.json'}")


def markdown(results):
    s = results["spec"]
    t, k = results["tfmot"], results["keras_compress"]
    v = results["versions"]
    cpu = results["machine"]

    def f1(row, key="macro_f1"):
        if not row or not row.get(f"{key}_per_seed"):
            return "n/a", "n/a"
        values = row[f"{key}_per_seed"]
        return f"{np.mean(values):.3f}", " / ".join(f"{x:.3f}" for x in values)

    def same(row):  # mean over seeds of the share of test labels equal to the float control's
        values = row.get("agreement_with_float") if row else None
        return f"{np.mean(values):.1%}" if values else "n/a"

    lines = [
        TITLE,
        "",
        "```bash",
        results["command"],
        "```",
        "",
        f"Run on {results['date']} on the shared 2-core VM ({cpu}; other jobs ran at the same "
        f"time), TensorFlow "
        f"{v.get('tensorflow')}, Keras {v.get('keras')}; tfmot side: tfmot {v.get('tfmot', '?')}, "
        f"tf_keras {v.get('tf_keras', '?')} (`benchmarks/tfmot_peer.py`, its own process). "
        f"{results['float']['seconds'] + results['tfmot_seconds'] + results['keras_seconds']:.0f} s "
        f"of training and evaluation in all (tfmot side {results['tfmot_seconds']:.0f} s, "
        f"keras-compress side {results['keras_seconds']:.0f} s).",
        "",
        f"The pruning peer's twin (`benchmarks/_peer_model.py`: 2 blocks, hidden 128, 4 heads, "
        f"FFN 512) on {results['dataset']} ({results['sizes']['train']} train / "
        f"{results['sizes']['test']} test messages, {results['num_classes']} intents; MiniLM "
        f"WordPiece ids, vocabulary cut to {results['vocabulary']} pieces, length 32). "
        f"Protocol, per seed {s['seeds']}: the float model is trained once in Keras 3 "
        f"({results['float']['steps']} steps, Adam {s['float_training']['learning_rate']:g}, the "
        f"pruning peer's initial weights and batches; test macro-F1 "
        f"{' / '.join(f'{x:.3f}' for x in results['float']['macro_f1_per_seed'])}); every "
        f"variant then loads those weights on both sides and fine-tunes {s['total_steps']} steps "
        f"({s['epochs']} epochs, batch {s['batch_size']}, Adam {s['learning_rate']:g}) on the same "
        f"batches in the same order. Only the 12 projection `Dense` layers are quantized or "
        f"clustered; embeddings, layer norms, attention and the classifier stay float on both "
        f"sides. Macro-F1 on the whole test split, with `keras_compress.metrics` for both; 'labels = "
        f"own float control': share of test labels equal to those of the same side's `float` "
        f"fine-tune of the same seed (mean over seeds).",
        "",
    ]
    if results.get("tfmot_error"):
        lines += [f"**tfmot failed here:** `{results['tfmot_error']}`", ""]
    lines += [
        "QAT: tfmot `quantize_annotate_layer` on those 12 layers, then `quantize_apply` "
        f"(`quantize_model` on the whole model fails: `{short_error(results.get('quantize_model'))}`), vs "
        "`swap_layers` `QuantizedDense` into the same layers + `QATToggle(start_step=0)`: both "
        "quantized from the first fine-tuning step (tfmot quantizes from step 0), per-tensor "
        "int8 kernels, activation ranges never frozen. Keras macro-F1 is of the model as trained "
        "(fake quantization on); TFLite is `Optimize.DEFAULT` with no representative data, batch "
        "1, converted by the same code for both sides (`_peer_model.tflite_bytes`), run on every "
        "test message (`ai_edge_litert`, 1 thread); agreement is TFLite labels equal to the Keras "
        "model's.",
        "",
    ]
    labels = {"float": "float (control, dynamic-range TFLite)", "qat": "QAT int8"}
    rows = []
    for name in ("float", "qat"):
        tr, kr = t.get(name, {}), k.get(name, {})
        (tm, ts), (km, ks) = f1(tr), f1(kr)

        def tfl(row, key, fmt):
            values = row.get(key) if row else None
            return fmt.format(np.mean(values)) if values else "n/a"

        rows.append({
            "fine-tuning": labels[name], "tfmot macro-F1": tm, "keras-compress macro-F1": km,
            "tfmot per seed": ts, "keras-compress per seed": ks,
            "labels = own float control (tfmot / keras-compress)": f"{same(tr)} / {same(kr)}",
            "TFLite bytes (tfmot / keras-compress)":
                f"{tfl(tr, 'tflite_bytes', '{:,.0f}')} / {tfl(kr, 'tflite_bytes', '{:,.0f}')}",
            "TFLite macro-F1 (tfmot / keras-compress)":
                f"{tfl(tr, 'tflite_macro_f1_per_seed', '{:.3f}')} / "
                f"{tfl(kr, 'tflite_macro_f1_per_seed', '{:.3f}')}",
            "TFLite label agreement (tfmot / keras-compress)":
                f"{tfl(tr, 'tflite_agreement', '{:.1%}')} / {tfl(kr, 'tflite_agreement', '{:.1%}')}",
        })
    lines.append(format_table(rows))
    for name in ("float", "qat"):
        shown = []
        for side, rows in (("tfmot", t), ("keras-compress", k)):
            ops = rows.get(name, {}).get("tflite_ops")
            if ops:
                fc = ", ".join(f"{n} {kind}" for kind, n in sorted(ops["fully_connected"].items()))
                shown.append(f"{side}: {fc}; {ops['quantize']} `QUANTIZE`, "
                             f"{ops['dequantize']} `DEQUANTIZE`")
        if shown:
            lines.append(f"\nTFLite `FULLY_CONNECTED` ops (input x weights dtypes), "
                         f"{labels[name]}: " + "; ".join(shown) + ".")
    lines += [
        "",
        "Clustering: tfmot `cluster_weights(number_of_clusters=k, cluster_centroids_init=LINEAR)` "
        "on the 12 layers, `strip_clustering` after training, vs `WeightClustering(n_clusters=k, "
        "init=\"linear\")` restricted to them (clusters at the first step), `keras_compress.strip` "
        "after training. \"Distinct values\": the most distinct values in any of the 12 stripped "
        "kernels, over both seeds.",
        "",
    ]
    rows = []
    for name in ("float",) + tuple(f"cluster{c}" for c in sorted(
            int(v["name"][7:]) for v in s["variants"] if v["method"] == "cluster")):
        tr, kr = t.get(name, {}), k.get(name, {})
        (tm, ts), (km, ks) = f1(tr), f1(kr)

        def most(row):
            return str(max(row["max_distinct_values"])) if row.get("max_distinct_values") else "n/a"

        bound = "" if name == "float" else "<= "
        rows.append({
            "fine-tuning": "float (control)" if name == "float" else f"k = {name[7:]}",
            "tfmot macro-F1": tm, "keras-compress macro-F1": km, "tfmot per seed": ts,
            "keras-compress per seed": ks,
            "labels = own float control (tfmot / keras-compress)": f"{same(tr)} / {same(kr)}",
            "distinct values per kernel (tfmot / keras-compress)":
                f"{bound}{most(tr)} / {bound}{most(kr)}",
        })
    lines.append(format_table(rows))
    lines.append("")
    return "\n".join(lines)


def short_error(text):
    """An exception's first line and its innermost `...Error: ...` line, for the doc."""
    if not text:
        return text
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    inner = [line for line in lines[1:] if re.match(r"^\w+(Error|Exception): ", line)]
    return " ... ".join(lines[:1] + inner[-1:])


if __name__ == "__main__":
    main()
