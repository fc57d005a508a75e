"""The `keras-compress` command: inspect a saved model, export it to TFLite, benchmark it.

    keras-compress inspect MODEL.keras
    keras-compress export MODEL.keras --quantize dynamic --out M.tflite --labels train.jsonl
    keras-compress bench M.tflite --data test.jsonl --threads 2

Every problem is one line on stderr (`keras-compress <command>: error: ...`) and a
non-zero exit code: 2 for a bad command line (missing file, wrong suffix, unknown
option value), 1 for a problem found while running (unreadable model, malformed or
mislabeled data, failed parity check). `--debug` shows the traceback instead.

See docs/cli.md.
"""

import argparse
import json
import pathlib
import statistics
import sys
import time
import warnings
import zipfile

QUANTIZE_CHOICES = ("none", "dynamic", "int8", "float16")
TEXT_SUFFIXES = (".jsonl", ".csv", ".yml", ".yaml", ".txt")
DEFAULT_DATA_LIMIT = 300
WARMUP_RUNS = 5


class CLIError(Exception):
    """A problem to report in one line; `code` is the exit status."""

    def __init__(self, message, code=1, prog=None):
        super().__init__(message)
        self.code = code
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """`argparse` that raises instead of printing usage and exiting."""

    def error(self, message):
        raise CLIError(f"{message} (see `{self.prog} --help`)", code=2, prog=self.prog)


def _paragraphs(*texts):
    """A help description: each text a paragraph, wrapped to 79 columns."""
    import textwrap

    return "\n\n".join(textwrap.fill(text, 79) for text in texts)


def main(argv=None):
    """Runs the command line `argv` (default: `sys.argv[1:]`); returns the exit code."""
    parser = _build_parser()
    prog, args = parser.prog, None
    try:
        args = parser.parse_args(argv)
        prog = f"{parser.prog} {args.command}"
        return args.run(args) or 0
    except SystemExit as exit_:  # --help, --version
        return exit_.code if isinstance(exit_.code, int) else 0
    except KeyboardInterrupt:
        _print_error(prog, "interrupted")
        return 130
    except Exception as error:
        if getattr(args, "debug", False):
            raise
        if isinstance(error, CLIError):
            _print_error(error.prog or prog, str(error))
            return error.code
        _print_error(prog, _describe(error))
        return 1


def _print_error(prog, message):
    print(f"{prog}: error: {' '.join(message.split())}", file=sys.stderr)


def _describe(error):
    """One line for an exception from the library (its type when it is not a usual one)."""
    message = str(error).strip() or type(error).__name__
    if isinstance(error, (ValueError, TypeError, FileNotFoundError, NotImplementedError)):
        return message
    return f"{type(error).__name__}: {message}"


# --- the parser ------------------------------------------------------------------------


def _build_parser():
    from keras_compress import __version__

    parser = _Parser(
        prog="keras-compress",
        description="Inspect compressed Keras models, export them to TFLite, benchmark the "
        "exported classifier.",
        epilog="Run `keras-compress COMMAND --help` for a command's options. Docs: docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"keras-compress {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    inspect = commands.add_parser(
        "inspect",
        help="compression summary and parameter counts of a saved .keras model",
        description=_paragraphs(
            "Loads a saved .keras model (compressed with keras_compress or plain) and prints "
            "keras_compress.summary: one row per compression layer with its sparsity, neurons, "
            "heads and clusters/bits, then the model's parameter counts (all variables, "
            "weights, after strip, non-zero after strip)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    inspect.add_argument("model", metavar="MODEL.keras", type=_input_file(".keras", "MODEL"),
                         help="a model saved with model.save(...)")
    _add_common(inspect)
    inspect.set_defaults(run=_inspect)

    export = commands.add_parser(
        "export",
        help="convert a saved .keras text classifier to .tflite, with a parity check",
        description=_paragraphs(
            "Calls keras_compress.export.to_tflite on a saved .keras text classifier "
            "(keras-hub style: token_ids/segment_ids/padding_mask in, one (batch, classes) "
            "output) and prints its report. Writes OUT, OUT.json (buckets, label names, "
            "report) and, when the model has a preprocessor, OUT.tokenizer/ (its keras-hub "
            "tokenizer) so that `keras-compress bench OUT` can tokenize text.",
            "Data files (--labels, --representative-data, --parity-data): .jsonl "
            "({\"text\", \"intent\"} per line), .csv (text,intent header), Rasa .yml/.yaml; "
            "--representative-data and --parity-data also take .txt (one text per line).",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("model", metavar="MODEL.keras", type=_input_file(".keras", "MODEL"),
                        help="a text classifier saved with model.save(...)")
    export.add_argument(
        "--quantize", choices=QUANTIZE_CHOICES, default="dynamic",
        help="none: float32; dynamic: int8 weights, float activations (default); int8: "
        "weights and activations, needs --representative-data; float16: float16 weights",
    )
    export.add_argument(
        "--out", metavar="M.tflite", type=_output_file(".tflite", "--out"),
        help="the file to write (default: MODEL with the suffix .tflite)",
    )
    export.add_argument(
        "--lengths", metavar="16,32,64", type=_int_list("--lengths", minimum=3),
        help="sequence-length buckets, one signature each (default: the preprocessor's "
        "sequence_length)",
    )
    export.add_argument(
        "--labels", metavar="FILE", type=_input_file((".txt", ".jsonl", ".csv", ".yml", ".yaml"),
                                                     "--labels"),
        help="label names in class-id order: a .txt with one name per line, or a data file "
        "whose sorted distinct intents are the names (the convention of the training "
        "scripts); stored in OUT.json for bench",
    )
    export.add_argument(
        "--representative-data", metavar="FILE", type=_input_file(TEXT_SUFFIXES,
                                                                  "--representative-data"),
        help="texts to calibrate int8 ranges on (required for --quantize int8)",
    )
    export.add_argument(
        "--parity-data", metavar="FILE", type=_input_file(TEXT_SUFFIXES, "--parity-data"),
        help="texts to compare Keras and TFLite on (default: --representative-data, else "
        "random token ids; pass real text for quantized exports)",
    )
    export.add_argument(
        "--data-limit", metavar="N", type=_positive_int("--data-limit"),
        default=DEFAULT_DATA_LIMIT,
        help=f"use at most N texts of --representative-data and --parity-data, a fixed "
        f"random sample (default {DEFAULT_DATA_LIMIT})",
    )
    export.add_argument(
        "--atol", metavar="X|none", type=_tolerance("--atol", upper=None), default="default",
        help="largest allowed max abs difference of the outputs; none skips the check "
        "(default: 1e-4 for float32, unchecked otherwise)",
    )
    export.add_argument(
        "--min-agreement", metavar="X|none", type=_tolerance("--min-agreement", upper=1.0),
        default="default",
        help="smallest allowed fraction of equal labels, in [0, 1]; none skips the check "
        "(default: 0.9 for dynamic and float16, 0.8 for int8)",
    )
    export.add_argument(
        "--latency-runs", metavar="N", type=_positive_int("--latency-runs", minimum=0),
        default=0,
        help="time every bucket N times and report the median (default 0: skip timing)",
    )
    export.add_argument(
        "--threads", metavar="1,2", type=_int_list("--threads", minimum=1), default=(1, 2),
        help="thread counts for --latency-runs (default 1,2)",
    )
    _add_common(export)
    export.set_defaults(run=_export)

    bench = commands.add_parser(
        "bench",
        help="accuracy, macro-F1 and per-message latency of a .tflite on labelled data",
        description=_paragraphs(
            "Runs a .tflite written by `keras-compress export` (or "
            "keras_compress.export.to_tflite) on labelled messages, one message at a time "
            "(batch 1), and prints accuracy, macro-F1 and latency per message (median and "
            "mean ms; model only, and tokenization + model). Label names come from "
            "M.tflite.json (export with --labels); the tokenizer from M.tflite.tokenizer/ or "
            "--tokenizer.",
            "Data: .jsonl ({\"text\", \"intent\"} per line), .csv (text,intent header) or "
            "Rasa .yml/.yaml; every intent must be one of the model's labels.",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument("tflite", metavar="M.tflite", type=_input_file(".tflite", "M.tflite"),
                       help="a model written by `keras-compress export`; M.tflite.json beside it")
    bench.add_argument(
        "--data", metavar="FILE", required=True,
        type=_input_file((".jsonl", ".csv", ".yml", ".yaml"), "--data"),
        help="labelled messages",
    )
    bench.add_argument(
        "--threads", metavar="N", type=_positive_int("--threads"), default=2,
        help="LiteRT CPU threads (default 2)",
    )
    bench.add_argument(
        "--limit", metavar="N", type=_positive_int("--limit"),
        help="use the first N messages only",
    )
    bench.add_argument(
        "--tokenizer", metavar="PATH", type=_tokenizer_path,
        help="the tokenizer: a .keras model with a preprocessor, a directory written by "
        "export (M.tflite.tokenizer), or a keras-hub preset directory (default: "
        "M.tflite.tokenizer beside the model)",
    )
    _add_common(bench)
    bench.set_defaults(run=_bench)
    return parser


def _add_common(parser):
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")


# --- argument types: checked before anything is loaded ----------------------------------


def _input_file(suffixes, name):
    suffixes = (suffixes,) if isinstance(suffixes, str) else tuple(suffixes)

    def check(value):
        path = pathlib.Path(value)
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{value} is a directory, not a file")
        if not path.exists():
            raise argparse.ArgumentTypeError(f"{value}: no such file")
        if path.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(
                f"{value} is not a {' / '.join(suffixes)} file"
            )
        return path

    check.__name__ = name  # argparse names the type in some messages
    return check


def _output_file(suffix, name):
    def check(value):
        path = pathlib.Path(value)
        if path.suffix.lower() != suffix:
            raise argparse.ArgumentTypeError(f"{value} must end in {suffix}")
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{value} is a directory")
        return path

    check.__name__ = name
    return check


def _int_list(name, minimum):
    def check(value):
        parts = [part.strip() for part in value.split(",")]
        numbers = []
        for part in parts:
            try:
                number = int(part)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"{value!r}: {part!r} is not an integer (expected e.g. 16,32,64)"
                ) from None
            if number < minimum:
                why = " (room for [CLS], a token and [SEP])" if name == "--lengths" else ""
                raise argparse.ArgumentTypeError(
                    f"{value!r}: every entry must be >= {minimum}{why}; got {number}"
                )
            numbers.append(number)
        if len(set(numbers)) != len(numbers):
            raise argparse.ArgumentTypeError(f"{value!r} has duplicates")
        return tuple(numbers)

    check.__name__ = name
    return check


def _positive_int(name, minimum=1):
    def check(value):
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}; got {number}")
        return number

    check.__name__ = name
    return check


def _tolerance(name, upper):
    def check(value):
        if value.lower() == "none":
            return None
        if value.lower() == "default":
            return "default"
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number or 'none'") from None
        if not number >= 0 or (upper is not None and number > upper):
            bound = f"in [0, {upper:g}]" if upper is not None else ">= 0"
            raise argparse.ArgumentTypeError(f"must be {bound} or 'none'; got {value}")
        return number

    check.__name__ = name
    return check


def _tokenizer_path(value):
    path = pathlib.Path(value)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{value}: no such file or directory")
    if path.is_file() and path.suffix.lower() != ".keras":
        raise argparse.ArgumentTypeError(
            f"{value} is neither a .keras model nor a tokenizer directory"
        )
    return path


# --- loading ---------------------------------------------------------------------------


def _load_model(path):
    import keras

    import keras_compress  # noqa: F401  registers the compression layers for loading

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
        raise CLIError(f"cannot load {path} as a Keras model: {_describe(error)}") from error


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
        raise CLIError(f"cannot load a tokenizer from {path}: {_describe(error)}") from error


# --- inspect ---------------------------------------------------------------------------


def _inspect(args):
    import numpy as np

    import keras_compress
    from keras_compress.layers.base import weight_count

    model = _load_model(args.model)
    print(f"{args.model}: {type(model).__name__} \"{model.name}\"")
    print(_describe_model(model))
    print()
    keras_compress.summary(model)
    variables = int(sum(int(np.prod(v.shape)) for v in model.weights))
    weights = weight_count(model)
    print()
    print("parameters")
    print(f"  all model variables    {variables:>12,}  (masks and quantization ranges included)")
    print(f"  weights                {weights:>12,}  (the summary's total)")
    try:
        plain = keras_compress.strip(model)
    except Exception as error:
        print(f"  after strip            (strip fails: {' '.join(_describe(error).split())})")
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


def _export(args):
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
        raise CLIError(_with_flag_names(_describe(error))) from error
    print(report.table())
    if args.latency_runs:
        print("note: --latency-runs is ignored: to_tflite no longer times the model; "
              "time the file with `keras-compress bench`")
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
    default = Parity.for_quantization(quantization)
    return to_tflite(
        model, out, config,
        label_names=labels,
        parity=Parity(
            parity,
            default.atol if args.atol == "default" else args.atol,
            default.min_agreement if args.min_agreement == "default" else args.min_agreement,
        ),
        verbose=False,
    )


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


def _bench(args):
    import numpy as np

    from keras_compress.export import TFLiteClassifier, buckets
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
        raise CLIError(f"cannot load {args.tflite} as a TFLite model: {_describe(error)}") from error

    # One message at a time, as an application calls it: model only (already packed
    # in its bucket) and tokenization + model.
    from keras_compress.export import tokens

    start_id, end_id, pad_id = tokens.special_ids(tokenizer)
    token_lists = tokens.tokenize(tokenizer, texts)
    largest = classifier.sequence_lengths[-1]
    packed = []
    for ids in token_lists:
        bucket = buckets.choose_bucket(min(len(ids) + 2, largest), classifier.sequence_lengths)
        packed.append(buckets.pack_tokens([ids], bucket, start_id, end_id, pad_id))
    for _ in range(WARMUP_RUNS):
        classifier.predict_packed(packed[0])
        classifier.predict([texts[0]])
    model_ms, total_ms, predicted = [], [], []
    for text, inputs in zip(texts, packed):
        begin = time.perf_counter()
        classifier.predict_packed(inputs)
        model_ms.append(1e3 * (time.perf_counter() - begin))
        begin = time.perf_counter()
        result = classifier.predict([text])
        total_ms.append(1e3 * (time.perf_counter() - begin))
        predicted.append(int(result.label_ids[0]))
    ids = {name: i for i, name in enumerate(label_names)}
    y_true = np.array([ids[intent] for intent in intents])
    y_pred = np.array(predicted)
    per_bucket = {}
    for inputs in packed:
        length = inputs["token_ids"].shape[1]
        per_bucket[length] = per_bucket.get(length, 0) + 1

    print(f"{args.tflite}: {metadata.get('quantization')}, buckets "
          f"{', '.join(map(str, classifier.sequence_lengths))}, {len(label_names)} labels, "
          f"{args.tflite.stat().st_size / 1e6:.2f} MB, {args.threads} "
          f"thread{'s' if args.threads > 1 else ''}")
    print(f"{args.data}: {len(texts)} messages, {len(set(intents))} intents; per bucket "
          + ", ".join(f"{length}: {count}" for length, count in sorted(per_bucket.items())))
    print(f"  accuracy   {accuracy(y_true, y_pred):.4f}")
    print(f"  macro-F1   {macro_f1(y_true, y_pred):.4f}  (over the intents in the data)")
    print(f"  latency per message, batch 1, after {WARMUP_RUNS} warm-up runs:")
    print(f"    model only          median {statistics.median(model_ms):.3f} ms, "
          f"mean {statistics.fmean(model_ms):.3f} ms")
    print(f"    tokenize + model    median {statistics.median(total_ms):.3f} ms, "
          f"mean {statistics.fmean(total_ms):.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
