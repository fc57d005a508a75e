"""The bodies of the `keras-compress` commands (`keras_compress.cli` parses the arguments).

Each command imports what it needs when it runs, so that `keras-compress --help` and a
command line error never load TensorFlow. Every problem is a `CLIError` (one line, an exit
code).
"""

import dataclasses
import importlib
import json
import os
import pathlib
import sys
import warnings
import zipfile

WARMUP_RUNS = 5


class CLIError(Exception):
    """A problem to report in one line; `code` is the exit status."""

    def __init__(self, message, code=1, prog=None):
        super().__init__(message)
        self.code = code
        self.prog = prog



def describe(error):
    """One line for an exception from the library (its type when it is not a usual one)."""
    message = str(error).strip() or type(error).__name__
    if isinstance(error, (ValueError, TypeError, FileNotFoundError, NotImplementedError)):
        return message
    return f"{type(error).__name__}: {message}"


def quiet_tensorflow(debug=False):
    """Imports TensorFlow without its start-up log lines above the command's output.

    TensorFlow logs through absl in C++ while it loads (CUDA probing, CPU features), which
    `TF_CPP_MIN_LOG_LEVEL` does not silence; so the process's stderr goes to a temporary
    file for the import and is shown only if the import fails (or with `--debug`). A no-op
    when TensorFlow is already imported; a log level the user set wins.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if debug:
        importlib.import_module("tensorflow")
        return
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            tensorflow = importlib.import_module("tensorflow")
            tensorflow.config.list_physical_devices()  # probes (and logs about) devices now
        except BaseException:
            os.dup2(saved, 2)
            log.seek(0)
            sys.stderr.write(log.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


# --- loading ---------------------------------------------------------------------------


def _load_model(path):
    import keras

    import keras_compress

    keras_compress._load()  # registers the compression layers (lazy under this command)

    if pathlib.Path(path).is_file() and not zipfile.is_zipfile(path):
        # Keras reports any non-zip file as "File not found"; the file is there.
        raise CLIError(
            f"cannot load {path} as a Keras model: the file exists but is not a .keras "
            "archive (not a zip file; truncated, or saved in another format)"
        )
    try:
        with warnings.catch_warnings():
            # keras-hub tasks have a custom compile(); Keras warns it is not restored.
            warnings.filterwarnings("ignore", message=r"`compile\(\)` was not called")
            warnings.filterwarnings("ignore", message=r"Skipping variable loading for optimizer")
            return keras.saving.load_model(path)
    except Exception as error:
        raise CLIError(f"cannot load {path} as a Keras model: {describe(error)}") from error


def _load_intents(path, flag):
    """`keras_compress.data.load_intents`, its errors prefixed with the option."""
    from keras_compress.data import load_intents

    try:
        return load_intents(path)
    except (ValueError, OSError) as error:
        raise CLIError(f"{flag}: {error}") from error


def _read_lines(path, flag):
    """The non-empty lines of a text file, stripped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise CLIError(f"{flag}: {path}: not UTF-8 text ({error.reason})") from error
    return [line.strip() for line in lines if line.strip()]


def _read_texts(path, limit, flag):
    """The texts of a data file (.txt: one per line), at most `limit` (fixed sample)."""
    if path.suffix.lower() == ".txt":
        texts = _read_lines(path, flag)
        if not texts:
            raise CLIError(f"{flag}: {path}: no texts (the file is empty)")
    else:
        texts, _ = _load_intents(path, flag)
    if len(texts) > limit:
        import numpy as np

        rows = np.sort(np.random.default_rng(0).choice(len(texts), limit, replace=False))
        texts = [texts[i] for i in rows]
    return texts


def _read_labels(path):
    """Label names in class-id order: a .txt list, or a data file's sorted intents."""
    if path.suffix.lower() == ".txt":
        names = _read_lines(path, "--labels")
        if not names:
            raise CLIError(f"--labels: {path}: no label names (the file is empty)")
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise CLIError(f"--labels: {path}: duplicate label names {duplicates}")
        return names
    return sorted(set(_load_intents(path, "--labels")[1]))


def _tokenizer_dir(tflite):
    from keras_compress.export import tokens

    return tokens.tokenizer_dir(tflite)


def _load_tokenizer(path):
    """A keras-hub tokenizer from a .keras model, an export's tokenizer dir or a preset."""

    if path.is_file():
        preprocessor = getattr(_load_model(path), "preprocessor", None)
        if preprocessor is None or getattr(preprocessor, "tokenizer", None) is None:
            raise CLIError(f"--tokenizer {path}: the model has no preprocessor with a tokenizer")
        return preprocessor.tokenizer
    from keras_compress.export import tokens

    if not ((path / "config.json").is_file() or (path / "tokenizer.json").is_file()):
        raise CLIError(
            f"--tokenizer {path}: no tokenizer.json (expected a directory written by "
            "`keras-compress export`, a keras-hub preset, or a .keras model)"
        )
    try:
        return tokens.load_tokenizer(path)
    except Exception as error:
        raise CLIError(f"cannot load a tokenizer from {path}: {describe(error)}") from error


# --- inspect ---------------------------------------------------------------------------


def run_inspect(args):
    """`keras-compress inspect`."""
    import numpy as np

    from keras_compress.layers.base import weight_count
    from keras_compress.summary import summary
    from keras_compress.surgery.strip import strip

    model = _load_model(args.model)
    print(f"{args.model}: {type(model).__name__} \"{model.name}\"")
    print(_describe_model(model))
    print()
    summary(model)
    variables = int(sum(int(np.prod(v.shape)) for v in model.weights))
    weights = weight_count(model)
    print()
    print("parameters")
    print(f"  all model variables    {variables:>12,}  (masks and quantization ranges included)")
    print(f"  weights                {weights:>12,}  (the summary's total)")
    try:
        plain = strip(model)
    except Exception as error:
        print(f"  after strip            (strip fails: {' '.join(describe(error).split())})")
        return 0
    after = int(plain.count_params())
    nonzero = int(sum(np.count_nonzero(np.asarray(v)) for v in plain.weights))
    print(f"  after strip            {after:>12,}  (pruned heads and neurons cut out, as exported)")
    print(f"  non-zero after strip   {nonzero:>12,}  ({nonzero / max(after, 1):.1%})")
    return 0


def _describe_model(model):
    import keras

    parts = []
    try:
        outputs = model.outputs
        if outputs and len(outputs) == 1:
            parts.append(f"{outputs[0].shape[-1]} outputs")
    except (AttributeError, ValueError):
        pass
    inputs = getattr(model, "input", None)
    if isinstance(inputs, dict):
        parts.append("inputs " + ", ".join(inputs))
    backbone = getattr(model, "backbone", None)
    if isinstance(backbone, keras.Model):
        details = [f"{name} {getattr(backbone, name)}" for name in
                   ("num_layers", "num_heads", "hidden_dim", "intermediate_dim",
                    "vocabulary_size", "max_sequence_length") if hasattr(backbone, name)]
        parts.append(f"backbone {type(backbone).__name__} ({', '.join(details)})")
    preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is not None:
        length = getattr(preprocessor, "sequence_length", None)
        parts.append(f"preprocessor {type(preprocessor).__name__} (sequence_length {length})")
    else:
        parts.append("no preprocessor")
    return "  " + "; ".join(parts)


# --- export ----------------------------------------------------------------------------


def run_export(args):
    """`keras-compress export`."""
    from keras_compress.export import to_tflite

    out = args.out or args.model.with_suffix(".tflite")
    quantization = None if args.quantize == "none" else args.quantize
    # Read the small inputs first: their errors come before the slow model load.
    labels = _read_labels(args.labels) if args.labels else None
    representative = (
        _read_texts(args.representative_data, args.data_limit, "--representative-data")
        if args.representative_data else None
    )
    parity = (
        _read_texts(args.parity_data, args.data_limit, "--parity-data") if args.parity_data else None
    )
    model = _load_model(args.model)
    if labels is not None:
        classes = _num_classes(model)
        if classes is not None and len(labels) != classes:
            raise CLIError(
                f"--labels {args.labels}: {len(labels)} label names, but the model has "
                f"{classes} classes"
            )
    try:
        report = _to_tflite(to_tflite, model, out, quantization, args, representative, labels,
                            parity)
    except Exception as error:
        raise CLIError(_with_flag_names(describe(error))) from error
    print(report.table())
    written = [str(out), f"{out}.json"]
    tokenizer = None
    if _tokenizer_dir(out).is_dir():  # to_tflite saves the preprocessor's tokenizer
        tokenizer = _tokenizer_dir(out)
        written.append(f"{tokenizer}/")
    print(f"wrote {', '.join(written)}")
    if labels is None:
        print("note: no --labels given, so the export has no label names; "
              "`keras-compress bench` needs them")
    if tokenizer is None:
        print("note: no tokenizer beside the export; pass `--tokenizer` to `keras-compress bench`")
    return 0


def _to_tflite(to_tflite, model, out, quantization, args, representative, labels, parity):
    from keras_compress.export import ExportConfig, Parity

    config = ExportConfig(quantization, sequence_lengths=args.lengths,
                          representative_data=representative)
    tolerances = {name: getattr(args, name) for name in ("atol", "min_agreement")
                  if hasattr(args, name)}
    checked = dataclasses.replace(Parity.for_quantization(quantization, data=parity), **tolerances)
    return to_tflite(model, out, config, label_names=labels, parity=checked, verbose=False)


# The arguments of to_tflite that its error messages name, and the options that set them.
FLAG_NAMES = {
    "sequence_lengths": "--lengths",
    "representative_data": "--representative-data",
    "parity_data": "--parity-data",
    "label_names": "--labels",
    "min_agreement": "--min-agreement",
    "atol": "--atol",
    "quantization": "--quantize",
}


def _with_flag_names(message):
    """`sequence_lengths` in a library message -> `sequence_lengths` (--lengths)."""
    for argument, flag in FLAG_NAMES.items():
        for quoted in (f"`{argument}`", f"`{argument}="):
            if quoted in message:
                message = message.replace(quoted, f"{flag} ({quoted}", 1)
                end = message.index(quoted) + len(quoted)
                close = message.find("`", end) + 1 if quoted.endswith("=") else end
                message = message[:close] + ")" + message[close:]
                break
    return message


def _num_classes(model):
    try:
        return int(model.outputs[0].shape[-1])
    except (AttributeError, IndexError, TypeError, ValueError):
        return None


# --- bench -----------------------------------------------------------------------------



def run_bench(args):
    """`keras-compress bench`: accuracy, macro-F1 and latency per message of a .tflite."""
    import sys

    import numpy as np

    from keras_compress.bench import TFLiteRunner, format_table, time_messages
    from keras_compress.export import TFLiteClassifier
    from keras_compress.export.metadata import read_metadata
    from keras_compress.metrics import accuracy, macro_f1

    try:
        metadata = read_metadata(args.tflite)
    except json.JSONDecodeError as error:
        raise CLIError(f"{args.tflite}.json is not valid JSON ({error})") from error
    label_names = metadata.get("label_names")
    if not label_names:
        raise CLIError(
            f"{args.tflite}.json has no label names; export again with "
            "`keras-compress export ... --labels FILE` (or to_tflite(label_names=...))"
        )
    texts, intents = _load_intents(args.data, "--data")
    if args.limit:
        texts, intents = texts[: args.limit], intents[: args.limit]
    unknown = sorted(set(intents) - set(label_names))
    if unknown:
        shown = ", ".join(repr(i) for i in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        raise CLIError(
            f"--data {args.data}: {len(unknown)} intent{'s' if len(unknown) > 1 else ''} the "
            f"model does not know ({shown}); its {len(label_names)} labels are in "
            f"{args.tflite}.json"
        )
    tokenizer_path = args.tokenizer or _tokenizer_dir(args.tflite)
    if args.tokenizer is None and not tokenizer_path.is_dir():
        raise CLIError(
            f"no tokenizer for {args.tflite}: {tokenizer_path}/ is missing; pass "
            "--tokenizer MODEL.keras (or a keras-hub preset directory)"
        )
    tokenizer = _load_tokenizer(tokenizer_path)
    try:
        classifier = TFLiteClassifier(args.tflite, tokenizer=tokenizer, num_threads=args.threads)
    except (ValueError, RuntimeError, KeyError) as error:
        raise CLIError(f"cannot load {args.tflite} as a TFLite model: {describe(error)}") from error

    # One message at a time, as an application calls it (keras_compress.bench).
    runner = TFLiteRunner(classifier, name=args.tflite.name)
    timings = time_messages([runner], texts, modes=("warm",), warmup=WARMUP_RUNS,
                            progress=sys.stdout.isatty())
    ids = {name: i for i, name in enumerate(label_names)}
    y_true = np.array([ids[intent] for intent in intents])
    y_pred = np.array(timings.predictions(runner.name))
    per_bucket = {}
    for text in texts:
        length = runner.prepare(text)["token_ids"].shape[1]
        per_bucket[length] = per_bucket.get(length, 0) + 1
    model_ms = timings.times(runner.name, "warm")
    total_ms = timings.times(runner.name, "prepare") + model_ms

    print(f"{args.tflite}: {metadata.get('quantization')}, buckets "
          f"{', '.join(map(str, classifier.sequence_lengths))}, {len(label_names)} labels, "
          f"{args.tflite.stat().st_size / 1e6:.2f} MB, {args.threads} "
          f"thread{'s' if args.threads > 1 else ''}")
    print(f"{args.data}: {len(texts)} messages, {len(set(intents))} intents; per bucket "
          + ", ".join(f"{length}: {count}" for length, count in sorted(per_bucket.items())))
    print(f"  accuracy   {accuracy(y_true, y_pred):.4f}")
    print(f"  macro-F1   {macro_f1(y_true, y_pred):.4f}  (over the intents in the data)")
    print(f"latency per message, batch 1, after {WARMUP_RUNS} warm-up runs (ms; the model "
          "run twice per message, the second timed; tokenize + model = that + tokenizing):")
    print(format_table([
        {"": name, "median": float(np.median(ms)), "mean": float(np.mean(ms)),
         "p90": float(np.percentile(ms, 90))}
        for name, ms in (("model only", model_ms), ("tokenize + model", total_ms))
    ]))
    return 0


# --- compress --------------------------------------------------------------------------


def run_compress(args):
    """`keras-compress compress`: `keras_compress.recipes.compress_text_classifier`."""
    import keras_compress

    keras_compress._load()
    from keras_compress.recipes import CompressConfig, compress_text_classifier

    try:
        config = CompressConfig(max_drop=args.max_drop, teacher_epochs=args.teacher_epochs,
                                student_epochs=args.student_epochs, max_steps=args.max_steps,
                                timing_messages=args.timing_messages,
                                trim_vocabulary=args.trim_vocabulary, try_all=args.try_all)
        report = compress_text_classifier(
            args.data, args.out, args.model or args.preset, config, overwrite=args.overwrite,
            progress=not args.quiet, log=lambda line: print(f"[compress] {line}", flush=True),
        )
    except FileExistsError as error:
        raise CLIError(str(error), code=2) from error
    except (ValueError, TypeError, FileNotFoundError) as error:
        raise CLIError(describe(error)) from error
    print(report.table())
    print(f"wrote {args.out / 'model.tflite'} (+ .json, .tokenizer), {args.out / 'report.json'}")


def run_profile(args):
    """`keras-compress profile`: per-op times of a .tflite (`keras_compress.bench.profile_ops`)."""
    from keras_compress import files
    from keras_compress.bench import machine_line, profile_ops
    from keras_compress.export.validate import signature_key

    if args.json and args.json.exists():
        raise CLIError(f"--json {args.json} exists; choose another name", code=2)
    signatures = [signature_key(length) for length in args.lengths] if args.lengths else None
    try:
        profiles = profile_ops(args.tflite, signatures, num_threads=args.threads)
    except ValueError as error:
        raise CLIError(f"{args.tflite}: {describe(error)}") from error
    print(f"{args.tflite}: {args.threads} thread(s); {machine_line()}")
    for key, profile in profiles.items():
        print(f"\n{key}: {len(profile.ops)} ops, whole signature {profile.whole_ms:.3f} ms, "
              f"ops summed {profile.total_ms:.3f} ms (+{profile.overhead_ms:.4f} ms per call)")
        print(profile.table(top=args.top))
    if args.json:
        files.write_new(args.json, json.dumps({key: p.to_dict() for key, p in profiles.items()},
                                              indent=1), what="--json")
        print(f"\nwrote {args.json}")
