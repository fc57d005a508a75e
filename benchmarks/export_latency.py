"""Per-message latency and macro-F1 of MiniLM on Sara: Keras fp32 vs TFLite exports (issue 5).

    .venv/bin/python -m benchmarks.export_latency --data ../shared/data/sara --out runs/export_latency \
        --model runs/pruning/sara/minilm_finetuned.keras --prune-heads 0.5 --bert-base --skip-modes

Loads a fine-tuned MiniLM-L6 (`--model`; without it, fine-tunes one with the test fixture's
recipe: `--epochs` epochs, AdamW 5e-4, batch 32, length 32), optionally prunes heads and
neurons during one more epoch (`--prune-heads`, `--prune-neurons`: the schedule and
seeds of `benchmarks/pruning.py`, AdamW `--recovery-lr`); the uncompressed variants use a
"control" that gets the same extra epoch without pruning. Then times, message by message
over the real Sara test messages, at batch 1 and `--threads` threads, in one run:

- `keras_fp32_64`: the control in Keras, padded to 64 tokens, in a compiled `tf.function`
  (how the 2019 system served);
- `keras_eager_64`: the same model called eagerly, first `--eager-limit` messages only;
- `keras_int8_64`: the control after Keras 3's `model.quantize("int8")`, `tf.function`, 64;
- `onnx_dynamic_int8_64`: Keras's ONNX export of the control at (1, 64) (`model.export(...,
  format="onnx")`), `onnxruntime.quantization.quantize_dynamic`, onnxruntime with
  `--threads` intra-op threads;
- `tflite_dynamic_64`: `to_tflite(control, quantization="dynamic", sequence_lengths=(64,))`;
- `tflite_buckets` (with pruning): the control exported with the buckets (`--buckets`);
- `tflite_compressed`: the pruned model, `to_tflite(..., "dynamic", sequence_lengths=
  --buckets)`: every message in its smallest bucket.

Timing is interleaved per message: every message runs on all variants, in a fresh random
order, before the next message, so load from other jobs on a shared machine falls on all
variants alike. Each variant runs the message twice in a row, both timed: "cold" (right
after another model, whose weights evicted this one's from the CPU caches) and "warm"
(the repeat, as on a server that runs only this model). `--rounds` rounds; a message's
time is its median over the rounds; a variant's latency is the mean, median and p90 over
messages. All variants start from the same packed token ids; tokenization is timed once
per message and reported on its own.

`--bert-base` adds a random BERT-base classifier (12 x 768, 12 heads, FFN 3072, 67
classes) with the pruned MiniLM's structure applied (the same fractions of heads and FFN
neurons kept per layer), timed the same way at a static 64 tokens on random token ids:
Keras fp32 uncompressed, TFLite dynamic int8 uncompressed and compressed.

Writes `results.json` (and the exports) into `--out` and prints Markdown tables.
"""

import argparse
import datetime
import gc
import json
import os
import pathlib
import sys
import time

import keras
import numpy as np

import keras_compress
from benchmarks import _latency_peers, common
from benchmarks.common import log
from keras_compress.bench import (
    FunctionRunner,
    KerasRunner,
    TFLiteRunner,
    format_table,
    machine,
    machine_line,
    time_messages,
)
from keras_compress.callbacks import HeadPruning, NeuronPruning
from keras_compress.evaluation import evaluate
from keras_compress.export import ExportConfig, Parity, TFLiteClassifier, to_tflite
from keras_compress.layers import MaskedDense, PrunableAttention

CANDIDATES = ("tflite_compressed", "tflite_buckets")
BASES = ("keras_fp32_64", "keras_eager_64", "keras_int8_64", "onnx_dynamic_int8_64",
         "tflite_dynamic_64")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data/sara", help="folder with *.jsonl")
    parser.add_argument("--out", default="runs/export_latency", help="output folder")
    parser.add_argument("--model", help="a fine-tuned .keras to load instead of fine-tuning")
    parser.add_argument("--compressed-model",
                        help="a pruned .keras to load instead of pruning (--model: its control)")
    parser.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs (no --model)")
    parser.add_argument("--prune-heads", type=float, default=0.0, help="fraction of heads")
    parser.add_argument("--prune-neurons", type=float, default=0.0, help="fraction of FFN neurons")
    parser.add_argument("--recovery-lr", type=float, default=1e-4,
                        help="AdamW learning rate of the extra (pruning) epoch")
    parser.add_argument("--seed", type=int, default=2019)
    parser.add_argument("--buckets", default="8,16,32,64", help="compressed export's lengths")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls per variant")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds")
    parser.add_argument("--eager-limit", type=int, default=100,
                        help="messages timed for the (slow) eager Keras variant")
    parser.add_argument("--limit", type=int, help="time only the first N test messages")
    parser.add_argument("--skip-peers", action="store_true",
                        help="skip the Keras int8 and ONNX Runtime variants")
    parser.add_argument("--bert-base", action="store_true",
                        help="also time a random BERT-base with the same compression structure")
    parser.add_argument("--bert-base-messages", type=int, default=200,
                        help="random-id messages timed for BERT-base (lengths of Sara test)")
    parser.add_argument("--skip-modes", action="store_true",
                        help="skip the comparison of quantization modes")
    parser.add_argument("--modes-only", action="store_true",
                        help="only compare quantization modes (of --model, or a new fine-tune)")
    args = parser.parse_args()
    args.argv = sys.argv[1:]
    return args


def main():
    args = parse_args()
    out = common.start(args.out, "export_latency", args.argv, args.threads)
    encode, label_ids = common.load_data(args.data)
    load_start = os.getloadavg()
    info = machine(packages=("onnxruntime", "onnx", "tf2onnx"))

    started = time.time()
    if args.model:
        base_path = pathlib.Path(args.model)
        model = keras.saving.load_model(base_path)
    else:
        log(f"fine-tuning MiniLM, {args.epochs} epochs")
        model = common.fine_tune_minilm(encode["train"], len(label_ids), epochs=args.epochs,
                                        learning_rate=5e-4, shuffle_seed=0, verbose=2)
        base_path = out / "minilm_sara.keras"
        model.save(base_path)
    baseline_test = evaluate(model, *encode["test"])
    log(f"fine-tuned model {base_path}: test {baseline_test}")
    compressed, control_path = model, base_path
    if args.compressed_model:  # reuse a pruned model; --model is then its control
        compressed = keras.saving.load_model(args.compressed_model)
    elif args.prune_heads or args.prune_neurons:
        # Same training budget for both: one more epoch, pruning or not.
        compressed = prune(keras.saving.load_model(base_path), encode["train"], args.prune_heads,
                           args.prune_neurons, args.recovery_lr, args.seed)
        model = prune(keras.saving.load_model(base_path), encode["train"], 0.0, 0.0,
                      args.recovery_lr, args.seed)
        compressed.save(out / "pruned.keras")
        control_path = out / "control.keras"
        model.save(control_path)
    train_seconds = time.time() - started
    keras_scores = {"fine_tuned": baseline_test, "control": evaluate(model, *encode["test"])}
    if compressed is not model:
        keras_scores["compressed"] = evaluate(compressed, *encode["test"])
    log(f"Keras macro-F1 on all test messages (preprocessor, length 32): {keras_scores}")

    if args.modes_only:
        results = {"command": command_line(args), "date": datetime.date.today().isoformat(),
                   "machine": machine_line(info), "load_average_1_5_15_min": os.getloadavg(),
                   "modes": compare_modes(model, encode, out)}
        (out / "modes.json").write_text(json.dumps(results, indent=2) + "\n")
        print_table(results)
        return

    names = sorted(label_ids, key=label_ids.get)
    bucket_lengths = tuple(int(b) for b in args.buckets.split(","))
    texts, gold = encode["test"]
    if args.limit:
        texts, gold = texts[: args.limit], gold[: args.limit]
    keras_fp32 = KerasRunner(model, sequence_length=64, name="keras_fp32_64")
    inputs = [keras_fp32.prepare(text) for text in texts]  # packed at 64, for the checks

    runners, exports, peers = minilm_runners(args, model, compressed, control_path, names,
                                             bucket_lengths, encode, inputs, out, keras_fp32)
    log(f"timing {len(runners)} MiniLM variants x {len(texts)} messages x {args.rounds} rounds")
    timings = time_messages(runners, texts, rounds=args.rounds, modes=("cold", "warm"),
                            warmup=args.warmup, limits={"keras_eager_64": args.eager_limit},
                            progress=False)

    results = {
        "command": command_line(args),
        "date": datetime.date.today().isoformat(),
        "machine": machine_line(info),
        "versions": info,
        "threads": args.threads,
        "load_average_1_5_15_min": {"at_start": rounded(load_start),
                                    **timings.settings["load_average"]},
        "messages": len(texts),
        "rounds": args.rounds,
        "buckets": list(bucket_lengths),
        "prune": {"heads": args.prune_heads, "neurons": args.prune_neurons,
                  "recovery_lr": args.recovery_lr},
        "train_seconds": round(train_seconds, 1),
        "keras_test_all_messages": keras_scores,
        "variants": {},
        "peers": peers,
    }
    for name in timings.names:
        # Flat mean_ms / median_ms / p90_ms / messages: the warm times (benchmarks/run.py).
        entry = {**stats(timings, name, "warm"),
                 **{kind: stats(timings, name, kind) for kind in ("warm", "cold")},
                 **timings.scores(name, gold)}
        if name in exports:
            report = exports[name]
            entry.update(size_mb=report.size_bytes / 1e6, params=report.params,
                         parity_agreement_valid=report.parity["label_agreement"],
                         parity_max_abs_diff_valid=report.parity["max_abs_diff"])
        results["variants"][name] = entry
    results["variants"]["tokenize"] = stats(timings, "keras_fp32_64", "prepare")
    results["bucket_share"] = runners[-1].bucket_share(texts)
    pairs = [(c, b) for c in CANDIDATES + ("tflite_dynamic_64",) for b in BASES
             if c != b and {c, b} <= set(timings.names)]
    results["ratios"] = {kind: ratios(timings, kind, pairs) for kind in ("warm", "cold")}
    results["macro_f1_minus_keras_fp32_64_points"] = {
        name: 100 * (e["macro_f1"] - results["variants"]["keras_fp32_64"]["macro_f1"])
        for name, e in results["variants"].items() if "macro_f1" in e}
    results["targets"] = targets(results)
    if compressed is not model:
        results["compressed_structure"] = [
            {"heads_kept": h, "neurons_kept": n} for h, n in _latency_peers.kept_structure(compressed)]
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    if args.bert_base:
        structure = _latency_peers.kept_structure(compressed)
        del runners
        gc.collect()
        lengths = [int(p["padding_mask"].sum()) for p in inputs]
        results["bert_base"] = bert_base(args, structure, len(label_ids), lengths, out,
                                         keras_fp32.tokenizer)
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    if not args.skip_modes:
        results["modes"] = compare_modes(model, encode, out)
    results["seconds"] = round(time.time() - common.STARTED, 1)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    log(f"done; {out / 'results.json'}")


# ---------------------------------------------------------------------------- variants


def minilm_runners(args, model, compressed, control_path, names, bucket_lengths, encode,
                   inputs, out, keras_fp32):
    """`([keras_compress.bench runners], {name: ExportReport}, peer info)`; the Keras and
    ONNX variants at 64 tokens (`keras_fp32`'s packing), the TFLite ones in their buckets."""

    parity = Parity.for_quantization("dynamic", data=encode["valid"][0])
    log("exporting TFLite")

    def export(exported, path, lengths):
        return to_tflite(exported, path, ExportConfig("dynamic", sequence_lengths=lengths),
                         parity=parity, label_names=names, verbose=False)

    exports = {
        "tflite_dynamic_64": export(model, out / "dynamic_64.tflite", (64,)),
        "tflite_compressed": export(compressed, out / "compressed.tflite", bucket_lengths),
    }
    if compressed is not model:  # buckets without pruning, to separate the two effects
        exports["tflite_buckets"] = export(model, out / "buckets.tflite", bucket_lengths)
    for name, report in exports.items():
        log(f"{name}: {report.size_bytes / 1e6:.1f} MB, parity on valid: max abs diff "
            f"{report.parity['max_abs_diff']:.3g}, label agreement "
            f"{report.parity['label_agreement']:.4f}")

    def keras_eager(packed):
        return np.asarray(model(packed, training=False))

    runners = [keras_fp32, FunctionRunner(keras_eager, name="keras_eager_64",
                                          prepare=keras_fp32.prepare)]
    peers = {}
    if not args.skip_peers:
        log('Keras model.quantize("int8") of the control')
        int8_model, peers["keras_int8_64"] = _latency_peers.keras_int8(control_path)
        if int8_model is not None:
            int8 = KerasRunner(int8_model, sequence_length=64, name="keras_int8_64",
                               tokenizer=keras_fp32.tokenizer)
            try:  # traces it once; a failure here is recorded like a failed quantize
                int8.run(inputs[0])
                runners.append(int8)
            except Exception as error:  # recorded as the result
                peers["keras_int8_64"]["error"] = f"call: {_latency_peers.short_error(error)}"
        log(f"keras_int8_64: {peers['keras_int8_64']}")
        log("Keras ONNX export of the control + onnxruntime quantize_dynamic")
        check = {k: np.concatenate([p[k] for p in inputs[:16]]) for k in inputs[0]}
        run, peers["onnx_dynamic_int8_64"] = _latency_peers.onnx_dynamic_int8(model, out / "onnx", 64,
                                                                args.threads, check)
        if run is not None:
            runners.append(FunctionRunner(run, name="onnx_dynamic_int8_64",
                                          prepare=keras_fp32.prepare))
        log(f"onnx_dynamic_int8_64: {peers['onnx_dynamic_int8_64']}")
    runners += [TFLiteRunner(report.path, threads=args.threads, name=name,
                             tokenizer=keras_fp32.tokenizer) for name, report in exports.items()]
    return runners, exports, peers


def stats(timings, name, mode):
    return {**timings.stats(name, mode), "messages": timings.messages(name)}


def ratios(timings, kind, pairs):
    """`base / candidate` latency (mean and median) for `(candidate, base)` pairs, over
    the messages both timed."""
    return {f"{c}_vs_{b}": {"mean": timings.speedup(b, c, kind, "mean"),
                            "median": timings.speedup(b, c, kind, "median"),
                            "messages": min(timings.messages(b), timings.messages(c))}
            for c, b in pairs}


def targets(results):
    """The issue's targets for the compressed export, met or not, on mean and median."""
    r, v = results["ratios"], results["variants"]
    found = {}
    for key, base, factor in (("20x_vs_keras_fp32_64", "keras_fp32_64", 20),
                              ("3x_vs_tflite_dynamic_64", "tflite_dynamic_64", 3)):
        for kind in ("warm", "cold"):
            ratio = r[kind].get(f"tflite_compressed_vs_{base}")
            if ratio:
                found.setdefault(key, {})[kind] = {
                    "mean": ratio["mean"], "median": ratio["median"],
                    "met_on_mean": ratio["mean"] >= factor,
                    "met_on_median": ratio["median"] >= factor}
    drop = 100 * (v["keras_fp32_64"]["macro_f1"] - v["tflite_compressed"]["macro_f1"])
    keras_scores = results["keras_test_all_messages"]
    drop_fine_tuned = 100 * (keras_scores["fine_tuned"]["macro_f1"] - v["tflite_compressed"]["macro_f1"])
    found["macro_f1_within_1_point"] = {
        "drop_vs_control_keras_fp32_64_points": drop,
        "drop_vs_fine_tuned_before_extra_epoch_points": drop_fine_tuned,
        "met_vs_control": drop <= 1.0, "met_vs_fine_tuned": drop_fine_tuned <= 1.0}
    return found


def rounded(values):
    return [round(x, 2) for x in values]


# ---------------------------------------------------------------------------- BERT-base


def bert_base(args, structure, num_classes, real_lengths, out, tokenizer):
    """Random BERT-base, uncompressed vs `structure`, static length 64, interleaved. The
    messages are random token ids of the real messages' lengths: message `"i"` is the i-th
    (`tokenizer` only satisfies KerasRunner; the ids come packed)."""


    log(f"BERT-base: building, structure (heads, neurons kept) per MiniLM layer {structure}")
    plain, masked, kept = _latency_peers.bert_base_pair(structure, num_classes)
    count = min(args.bert_base_messages, len(real_lengths))
    rng = np.random.default_rng(1)
    inputs = []
    for n in real_lengths[:count]:
        n = min(n, 64)
        ids = np.zeros((1, 64), "int32")
        ids[0, :n] = [101, *rng.integers(1000, 30522, n - 2), 102]
        mask = (np.arange(64) < n).astype("int32")[None]
        inputs.append({"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": mask})
    exports = {}
    for name, model in (("tflite_dynamic_64", plain), ("tflite_compressed_64", masked)):
        log(f"BERT-base: exporting {name}")
        exports[name] = to_tflite(model, out / f"bert_base_{name}.tflite",
                                  ExportConfig("dynamic", sequence_lengths=(64,)),
                                  parity=Parity(atol=None, min_agreement=None), verbose=False)
    result = {"messages": count, "rounds": args.rounds, "kept_per_layer": kept,
              "params_uncompressed": int(plain.count_params()),
              "params_compressed": exports["tflite_compressed_64"].params, "variants": {}}
    del masked
    gc.collect()
    keras_plain = KerasRunner(plain, sequence_length=64, tokenizer=tokenizer)
    calls = {"keras_fp32_64": keras_plain.run}
    for name, report in exports.items():
        calls[name] = TFLiteClassifier(report.path, num_threads=args.threads).outputs
    runners = [FunctionRunner(call, name=name, prepare=lambda text: inputs[int(text)])
               for name, call in calls.items()]
    log(f"BERT-base: timing {len(runners)} variants x {count} messages x {args.rounds} rounds")
    timings = time_messages(runners, [str(i) for i in range(count)], rounds=args.rounds,
                            warmup=args.warmup, progress=False)
    result["load_average_1_5_15_min"] = timings.settings["load_average"]
    for name in calls:
        entry = {kind: stats(timings, name, kind) for kind in ("warm", "cold")}
        if name in exports:
            report = exports[name]
            entry.update(size_mb=report.size_bytes / 1e6, params=report.params,
                         parity_max_abs_diff_random=report.parity["max_abs_diff"])
        result["variants"][name] = entry
    result["ratios"] = {kind: ratios(timings, kind, (
        ("tflite_dynamic_64", "keras_fp32_64"), ("tflite_compressed_64", "keras_fp32_64"),
        ("tflite_compressed_64", "tflite_dynamic_64"))) for kind in ("warm", "cold")}
    return result


# ---------------------------------------------------------------------------- training


def command_line(args):
    return common.command("export_latency", args.argv)


def prune(model, train, heads, neurons, lr, seed):
    """One more epoch (AdamW `lr`) that removes `heads` / `neurons` fractions with the
    schedule, importance batches and seeds of `benchmarks/pruning.py` (0 -> target over
    the first half of the epoch, 5 pruning events, then recovery); 0 and 0: just the
    epoch (the control)."""


    keras.utils.set_random_seed(seed + 1)  # as pruning.py's run_config, for every arm
    mapping = {}
    if heads:
        mapping[keras.layers.MultiHeadAttention] = PrunableAttention
    if neurons:
        mapping[keras.layers.Dense] = MaskedDense
    if mapping:
        keras_compress.swap_layers(model, mapping)
    model.compile(optimizer=keras.optimizers.AdamW(lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    batches = common.shuffled_batches(*train, 32, seed + 1)
    steps = int(batches.cardinality())
    scoring = common.shuffled_batches(*train, 32, seed + 2)  # importance batches
    callbacks = []
    if neurons:
        callbacks.append(NeuronPruning(common.schedule_for(neurons, steps), data=scoring, num_batches=4))
    if heads:
        callbacks.append(HeadPruning(common.schedule_for(heads, steps), data=scoring, num_batches=4))
    log(f"extra epoch: {steps} steps, AdamW {lr}, heads {heads}, neurons {neurons}")
    model.fit(batches.repeat(), steps_per_epoch=steps, epochs=1, verbose=2, callbacks=callbacks)
    return model


def compare_modes(model, encode, out):
    """Each quantization mode of the uncompressed model, buckets (16, 64), batch 1 (and
    dynamic with any batch size): size and parity with Keras on Sara valid (no tolerance).
    (Latency: time the files with keras_compress.bench; the exporter no longer times.)"""
    rng = np.random.default_rng(0)
    train_texts = encode["train"][0]
    calibration = [train_texts[i] for i in rng.choice(len(train_texts), 200, replace=False)]
    modes = {}
    for mode, batch_size in ((None, 1), ("float16", 1), ("dynamic", 1), ("dynamic", None),
                             ("int8", 1)):
        started = time.time()
        name = (mode or "float32") + ("" if batch_size else ", any batch size")
        config = ExportConfig(mode, sequence_lengths=(16, 64), batch_size=batch_size,
                              representative_data=calibration if mode == "int8" else None)
        report = to_tflite(model, out / f"mode_{mode or 'float32'}_{batch_size}.tflite", config,
                           parity=Parity(encode["valid"][0], atol=None, min_agreement=None),
                           verbose=False)
        modes[name] = {
            "seconds": round(time.time() - started, 1), "size_mb": report.size_bytes / 1e6,
            "max_abs_diff": report.parity["max_abs_diff"],
            "label_agreement_valid": report.parity["label_agreement"],
            "float_ops": report.float_ops,
        }
    return modes


# ---------------------------------------------------------------------------- tables


def print_table(results):
    if results.get("variants"):
        print_variants(results, format_table)
    if "bert_base" in results:
        b = results["bert_base"]
        print(f"\nBERT-base shape (random weights), static 64 tokens, {b['messages']} messages, "
              f"load {b['load_average_1_5_15_min']}; kept per layer {b['kept_per_layer']}")
        print(format_table([timing_row(name, e) for name, e in b["variants"].items()]))
        print_ratios(b["ratios"])
    if "modes" in results:
        print()
        print(format_table([
            {"mode (buckets 16, 64)": mode, "size MB": e["size_mb"],
             "max abs diff": e["max_abs_diff"],
             "label agreement (valid)": f"{e['label_agreement_valid']:.2%}"}
            for mode, e in results["modes"].items()]))


def timing_row(name, e):
    """A table row: warm and cold mean / median / p90 ms, scores and size when known."""
    row = {"variant": name, "messages": e["warm"].get("messages")}
    for kind in ("warm", "cold"):
        row.update({f"{kind} {stat} ms": e[kind][f"{stat}_ms"]
                    for stat in ("mean", "median", "p90")})
    for key, label in (("macro_f1", "macro-F1"), ("accuracy", "accuracy"), ("size_mb", "size MB")):
        row[label] = e.get(key)
    return row


def print_ratios(found):
    for kind, pairs in found.items():
        for key, value in pairs.items():
            print(f"{kind}: {key}: {value['mean']:.2f}x mean, {value['median']:.2f}x median")


def print_variants(results, format_table):
    v = results["variants"]
    print(f"\n{results['messages']} Sara test messages, batch 1, {results['threads']} threads, "
          f"{results['rounds']} interleaved rounds, {results['date']}, {results['machine']}, "
          f"load average (1, 5, 15 min) {results['load_average_1_5_15_min']}")
    print(format_table([timing_row(name, e) for name, e in v.items() if name != "tokenize"]))
    t = v["tokenize"]
    print(f"tokenization alone: mean {t['mean_ms']:.3f} ms, median {t['median_ms']:.3f} ms")
    for name, peer in results.get("peers", {}).items():
        if "error" in peer:
            print(f"{name}: does not run: {peer['error']}")
    print_ratios(results["ratios"])
    print("macro-F1 minus keras_fp32_64 (points):",
          json.dumps({k: round(x, 2) for k, x in results["macro_f1_minus_keras_fp32_64_points"].items()}))
    print("Keras macro-F1, all test messages:", json.dumps(results["keras_test_all_messages"]))
    print("targets:", json.dumps(results["targets"], indent=1))
    print("bucket share:", results["bucket_share"])


if __name__ == "__main__":
    main()
