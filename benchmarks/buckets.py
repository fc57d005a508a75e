"""Bucket grids and threads: what padding and a second thread cost or earn, per data set.

Latency does not depend on the weights, so a 3-layer student of the pretrained MiniLM with an
untrained head is timed (no fine-tune; its parity check is off, as its near-equal random logits
would flip labels under int8). The grids' answers are equal to each other's by construction:
each message runs the same model at a length that holds it.

    .venv/bin/python -m benchmarks.buckets --data ../shared/data/clinc150 --messages 600 [--trim]
"""

import argparse
import sys

from benchmarks.common import load_data, log, minilm_classifier, start
from keras_compress.bench import TFLiteRunner, format_table, machine_line, time_messages
from keras_compress.distillation import make_student
from keras_compress.export import ExportConfig, Parity, to_tflite
from keras_compress.surgery import trim_vocabulary

GRIDS = {"coarse": (8, 16, 32, 64), "fine": (8, 12, 16, 24, 32, 48, 64)}


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default="/tmp/bench_buckets")
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--ffn", type=float, default=1.0, help="FFN fraction kept")
    parser.add_argument("--trim", action="store_true",
                        help="also the fine grid with the vocabulary trimmed to the training split")
    args = parser.parse_args(argv)
    out = start(args.out, "buckets", argv, threads=2)
    data, label_ids = load_data(args.data)
    texts = data["test"][0]
    texts = texts[:: max(1, len(texts) // args.messages)][: args.messages]
    teacher = minilm_classifier(len(label_ids))
    ffn = int(teacher.backbone.get_config()["intermediate_dim"] * args.ffn)
    student = make_student(teacher, 3, intermediate_dim=ffn)
    models = {grid: (student, lengths) for grid, lengths in GRIDS.items()}
    if args.trim:
        trimmed = trim_vocabulary(student, data["train"][0])
        log(f"vocabulary trimmed to {trimmed.backbone.vocabulary_size} tokens")
        models["fine trimmed"] = (trimmed, GRIDS["fine"])
    runners = []
    for grid, (model, lengths) in models.items():
        path = out / f"{grid.replace(' ', '_')}.tflite"
        if not path.exists():
            to_tflite(model, path, ExportConfig("dynamic", sequence_lengths=lengths),
                      parity=Parity(data=texts[:8], atol=None, min_agreement=None), verbose=False)
        log(f"{grid}: {lengths}, {path.stat().st_size:,} bytes")
        runners += [TFLiteRunner(path, threads=t, name=f"{grid}, {t} thread{'s' * (t > 1)}")
                    for t in (1, 2)]
    timings = time_messages(runners, texts, rounds=2, modes=("warm", "cold"), progress=False)
    print(f"\n{args.data}: {len(texts)} test messages, 3-layer student "
          f"(FFN {ffn}), dynamic int8; {machine_line()}\n")
    print(format_table(timings.rows(reference=runners[0].name)))
    for runner in runners[::2]:
        print(f"{runner.name.split(',')[0]} buckets used: {runner.bucket_share(texts)}")


if __name__ == "__main__":
    main(sys.argv[1:])
