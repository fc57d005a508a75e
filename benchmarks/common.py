"""What the benchmark scripts share: the log, data, the MiniLM fine-tune, schedules, options.

Training batches come from `keras_compress.recipes.text_classifier.shuffled_batches`, timing from
`keras_compress.bench`; nothing here times or prints tables.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_compress.bench import time_messages  # noqa: E402
from keras_compress.data import load_intents  # noqa: E402
from keras_compress.export import tokens  # noqa: E402
from keras_compress.pruning import PolynomialDecay  # noqa: E402
from keras_compress.recipes.text_classifier import default_preset, shuffled_batches  # noqa

STARTED = time.time()
LOG_FILE = None  # set by a script: every log line is also appended there


def log(message):
    line = f"[{time.strftime('%H:%M:%S')} +{time.time() - STARTED:6.0f}s] {message}"
    print(line, flush=True)
    if LOG_FILE is not None:
        with open(LOG_FILE, "a") as handle:
            handle.write(line + "\n")


def start(out, script, argv, threads):
    """Makes `out`, logs to `out`/progress.log, sets TensorFlow's threads; returns `out`."""
    global LOG_FILE
    import tensorflow as tf

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    LOG_FILE = out / "progress.log"
    log(f"{command(script, argv)} -> {out}")
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    return out


def command(script, argv):
    """The command line of a run, as docs/benchmarks.md shows it."""
    return f".venv/bin/python -m benchmarks.{script} " + shlex.join(argv)


def epoch_log(prefix):
    """A callback that logs each epoch's metrics through `log`."""
    return keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: log(
        f"{prefix} epoch {epoch + 1}: " + ", ".join(f"{k} {v:.4g}" for k, v in (logs or {}).items())))


def load_data(folder, quick=False):
    """`({split: (texts, int labels)}, {intent: id})` of `folder`/{train,valid,test}.jsonl; ids
    are the sorted training intents, messages of other intents dropped. `quick`: fixed small
    random subsets (192 / 32 / 48)."""
    splits = {s: load_intents(pathlib.Path(folder) / f"{s}.jsonl") for s in ("train", "valid", "test")}
    label_ids = {name: i for i, name in enumerate(sorted(set(splits["train"][1])))}
    data = {}
    for split, (texts, intents) in splits.items():
        keep = [i for i, intent in enumerate(intents) if intent in label_ids]
        texts = [texts[i] for i in keep]
        labels = np.array([label_ids[intents[i]] for i in keep])
        if quick:
            rows = np.random.default_rng(0).permutation(len(texts))[
                : {"train": 192, "valid": 32, "test": 48}[split]]
            texts, labels = [texts[i] for i in rows], labels[rows]
        data[split] = (texts, labels)
    return data, label_ids


def evenly_spaced(texts, gold, n):
    """`n` messages evenly spaced over the split (all when `n` is 0 or too large)."""
    if not n or n >= len(texts):
        return list(texts), np.asarray(gold)
    rows = np.unique(np.linspace(0, len(texts) - 1, n).round().astype(int))
    return [texts[i] for i in rows], np.asarray(gold)[rows]


def minilm_classifier(num_classes, sequence_length=32):
    """keras-hub `BertTextClassifier` on the pretrained MiniLM-L6-H384 (as tests/conftest.py)."""
    import keras_hub

    preset = default_preset()
    backbone = keras_hub.models.BertBackbone.from_preset(preset)
    tokenizer = keras_hub.models.BertTokenizer.from_preset(preset)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=sequence_length)
    return keras_hub.models.BertTextClassifier(backbone, num_classes=num_classes,
                                               preprocessor=preprocessor)


def fine_tune_minilm(train, num_classes, *, epochs, learning_rate, seed=2019, shuffle_seed=None,
                     verbose=0, callbacks=()):
    """MiniLM fine-tuned on `train` (AdamW, batch 32, length 32, reshuffled every epoch)."""
    keras.utils.set_random_seed(seed)
    model = minilm_classifier(num_classes)
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(shuffled_batches(*train, 32, seed if shuffle_seed is None else shuffle_seed),
              epochs=epochs, verbose=verbose, callbacks=list(callbacks))
    return model


def fine_tune(data, num_classes, out, *, epochs, learning_rate, seed, reuse):
    """The fine-tuned MiniLM of the pruning and distillation runs, saved as
    `out`/minilm_finetuned.keras with `finetune.json`; `reuse` loads an earlier one made with the
    same recipe. Returns `(path, info)`."""
    from keras_compress.evaluation import evaluate

    path, info_path = out / "minilm_finetuned.keras", out / "finetune.json"
    recipe = {"epochs": epochs, "learning_rate": learning_rate, "batch_size": 32,
              "sequence_length": 32, "optimizer": "AdamW", "seed": seed,
              "train_examples": len(data["train"][0])}
    if reuse and path.is_file() and info_path.is_file():
        info = json.loads(info_path.read_text())
        if info["recipe"] == recipe:
            log(f"reusing the fine-tuned model {path} (valid macro-F1 {info['valid']['macro_f1']:.4f})")
            return path, info | {"reused": True}
        log(f"reuse: {path} was made with {info['recipe']}, not {recipe}; fine-tuning again")
    log(f"fine-tuning MiniLM: {recipe}")
    started = time.time()
    model = fine_tune_minilm(data["train"], num_classes, epochs=epochs, learning_rate=learning_rate,
                             seed=seed, callbacks=[epoch_log("fine-tune")])
    seconds = time.time() - started
    model.save(path)
    info = {"recipe": recipe, "seconds": round(seconds, 1),
            "valid": evaluate(model, *data["valid"]), "test": evaluate(model, *data["test"])}
    info_path.write_text(json.dumps(info, indent=1))
    log(f"fine-tuned in {seconds:.0f}s: valid {info['valid']}, test {info['test']}")
    return path, info


def schedule_for(sparsity, total_steps):
    """The schedule of every pruning run: 0 -> sparsity over the first half of the steps,
    pruning every eighth of them (5 events, the first at sparsity 0), then recovery only."""
    frequency = max(1, total_steps // 8)
    return PolynomialDecay(0.0, sparsity, begin_step=0, end_step=4 * frequency, power=3,
                           frequency=frequency)


def peer_data(data, folder, length=32):
    """The peer twins' inputs: `data` tokenized with MiniLM's WordPiece tokenizer, packed to
    `length`, the vocabulary cut to [PAD], [UNK], [CLS], [SEP] and the pieces seen in training.
    Writes `folder`/data.npz (`{split}_token_ids`, `{split}_padding_mask`, `{split}_labels`);
    returns `(arrays, vocabulary)`."""
    import keras_hub

    tokenizer = keras_hub.models.BertTokenizer.from_preset(default_preset())
    start_id, end_id, pad_id = tokens.special_ids(tokenizer)
    packed = {s: tokens.pack_texts(tokenizer, list(t), length) for s, (t, _) in data.items()}
    special = (pad_id, int(tokenizer.token_to_id("[UNK]")), start_id, end_id)
    seen = np.unique(packed["train"]["token_ids"])
    vocabulary = list(special) + [int(i) for i in seen if i not in special]
    remap = np.full(int(tokenizer.vocabulary_size()), 1, "int32")
    remap[vocabulary] = np.arange(len(vocabulary))
    arrays = {}
    for split in data:
        arrays[f"{split}_token_ids"] = remap[packed[split]["token_ids"]]
        arrays[f"{split}_padding_mask"] = packed[split]["padding_mask"]
        arrays[f"{split}_labels"] = np.asarray(data[split][1], "int32")
    np.savez(pathlib.Path(folder) / "data.npz", **arrays)
    return arrays, vocabulary


def structure(stripped):
    """Parameters (whole model, transformer layers), heads and FFN neurons per layer of a
    stripped keras-hub BERT classifier."""
    transformer = stripped.backbone.transformer_layers
    return {
        "params": int(stripped.count_params()),
        "encoder_params": int(sum(layer.count_params() for layer in transformer)),
        "layers": len(transformer),
        "heads_per_layer": [int(layer._self_attention_layer._num_heads) for layer in transformer],
        "neurons_per_layer": [int(layer._feedforward_intermediate_dense.units)
                              for layer in transformer],
    }


def cold_latency(runners, texts, gold, rounds, warmup):
    """`({runner: cold mean/median/p90 ms, macro_f1, accuracy}, bucket share)`: every runner
    timed message by message, interleaved (`keras_compress.bench.time_messages`)."""
    share = runners[-1].bucket_share(texts)
    log(f"buckets of the timed messages: {share}")
    timings = time_messages(runners, texts, rounds=rounds, modes=("cold",), warmup=warmup,
                            progress=False)
    return {name: {**timings.stats(name, "cold"), **timings.scores(name, gold)}
            for name in timings.names}, share


def run_parser(doc, kind):
    """The options every MiniLM run shares: data, output, buckets, timing, `--quick`."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    add = parser.add_argument
    add("--data", default="../shared/data/sara", help="folder with {train,valid,test}.jsonl")
    add("--out", help=f"output folder (default runs/{kind}/<data name>[_quick])")
    add("--buckets", default="8,16,32", help="TFLite sequence-length buckets")
    add("--threads", type=int, default=2, help="threads for Keras and TFLite timing")
    add("--rounds", type=int, default=3, help="timing rounds per message")
    add("--warmup", type=int, default=10, help="untimed runs per variant first")
    add("--timing-messages", type=int, default=0,
        help="time N test messages, evenly spaced over the split (0: all)")
    add("--quick", action="store_true", help="smoke run: a few steps on subsets")
    add("--seed", type=int, default=2019)
    return parser


def finish_run_args(args, argv, kind):
    """Fills in what `run_parser`'s options imply: `argv`, the default `out`, the buckets as
    ints, and `--quick`'s one round and at most 24 timed messages."""
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.out is None:
        name = pathlib.Path(args.data).resolve().name
        args.out = f"runs/{kind}/{name}{'_quick' if args.quick else ''}"
    args.buckets = tuple(int(b) for b in args.buckets.split(","))
    if args.quick:
        args.rounds, args.warmup = 1, 3
        args.timing_messages = min(args.timing_messages, 24) or 24
    return args
