"""Distillation benchmark: every student of the main job, trained and timed against its teacher.

    .venv/bin/python -m benchmarks.distillation --data ../shared/data/sara \\
        --teacher runs/teachers/sara.keras --out runs/distillation/sara

A thin configuration of `keras_compress.recipes.compress_text_classifier` with
`try_all=True`: the teacher (a fine-tuned `.keras`, or the MiniLM fine-tuned first),
its logits cached once, then every `--candidates` student (`make_student`, trained on
the cached logits with early stopping on validation macro-F1), each exported (dynamic
int8, length buckets, parity-checked) and timed message by message with the teacher's
export and Keras fp32 at 64 tokens (`keras_compress.bench`). Writes the recipe's files
into `--out` (report.json with every candidate, its paired-bootstrap interval against the
teacher's export, the plot, every model as `models/<name>.keras`) and prints the report's
table.

Issue 6's research variants (hard-label students, intermediate-layer losses, a pruned
student) ran with the earlier script, `git show cd0fe75:benchmarks/distillation.py`;
their results are in docs/benchmarks.md with that command.
"""

import argparse
import pathlib
import sys

from benchmarks.common import command, log, start
from keras_compress.recipes import Candidate, CompressConfig, compress_text_classifier

CANDIDATES = {
    "1L": Candidate("1L", num_layers=1),
    "2L_ffn50": Candidate("2L_ffn50", num_layers=2, intermediate_dim_fraction=0.5),
    "2L": Candidate("2L", num_layers=2),
    "3L_ffn50": Candidate("3L_ffn50", num_layers=3, intermediate_dim_fraction=0.5),
    "3L": Candidate("3L", num_layers=3),
    "4L": Candidate("4L", num_layers=4),
}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data/sara")
    parser.add_argument("--teacher", help="a fine-tuned .keras (default: fine-tune the MiniLM)")
    parser.add_argument("--out", help="output folder (default runs/distillation/<data name>)")
    parser.add_argument("--candidates", default="2L,3L_ffn50,3L",
                        help=f"comma-separated subset of {', '.join(CANDIDATES)}")
    parser.add_argument("--max-drop", type=float, default=1.0)
    parser.add_argument("--teacher-epochs", type=int, default=12)
    parser.add_argument("--student-epochs", type=int, default=8)
    parser.add_argument("--timing-messages", type=int)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    args.argv = list(argv)
    unknown = set(args.candidates.split(",")) - set(CANDIDATES)
    if unknown:
        parser.error(f"--candidates: unknown {sorted(unknown)}; choose from {list(CANDIDATES)}")
    args.out = pathlib.Path(args.out or f"runs/distillation/{pathlib.Path(args.data).name}")
    return args


def main(argv):
    args = parse_args(argv)
    config = CompressConfig(
        max_drop=args.max_drop, try_all=True, teacher_epochs=args.teacher_epochs,
        student_epochs=args.student_epochs, timing_messages=args.timing_messages,
        candidates=tuple(CANDIDATES[name] for name in args.candidates.split(",")),
    )
    start(args.out, "distillation", args.argv, args.threads)
    report = compress_text_classifier(args.data, args.out, args.teacher, config,
                                      overwrite=True, save_models=True, progress=False,
                                      log=log)
    print(f"\n{command('distillation', args.argv)}\n\n{report.table()}")


if __name__ == "__main__":
    main(sys.argv[1:])
