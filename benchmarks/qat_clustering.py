"""QAT int8 and k-means clustering of MiniLM: macro-F1, TFLite sizes and latency, Keras int8.

    .venv/bin/python -m benchmarks.qat_clustering --data ../shared/data/sara --model MODEL.keras

`--parts` of a fine-tuned MiniLM-L6 (`--model`, else fine-tuned here: 3 epochs, AdamW 5e-4):
qat (QAT and post-training int8 vs one more float epoch), tflite (float32, dynamic and QAT int8
exports: bytes, macro-F1, ms per message), keras_int8 (`model.quantize("int8")`), clustering
(`sensitivity`) and sizes (`size_report` of the encoder clustered to 4 values per matrix).
"""

import datetime
import functools
import json
import pathlib

import keras

import keras_compress
from benchmarks import common
from benchmarks.common import log
from keras_compress import bench, layers
from keras_compress.callbacks import QATToggle
from keras_compress.clustering import group_layers, sensitivity
from keras_compress.clustering.targets import clustering_policy
from keras_compress.evaluation import evaluate
from keras_compress.export import ExportConfig, Parity, to_tflite
from keras_compress.size_report import size_report
from keras_compress.surgery import tree

PARTS = ("qat", "tflite", "keras_int8", "clustering", "sizes")
QAT_RUNS = ("float+1", "qat_per_tensor", "qat_per_tensor_emb", "qat_per_channel",
            "ptq_per_tensor", "ptq_per_channel")  # `_emb`: the token table in int8 too


def parse_args(argv=None):
    parser = common.run_parser(__doc__, "qat_clustering")
    add = parser.add_argument
    add("--model", help="a fine-tuned .keras to load instead of fine-tuning")
    add("--parts", type=lambda s: s.split(","), default=PARTS, help=f"a subset of {PARTS}")
    add("--clusters", type=lambda s: [int(c) for c in s.split(",")], default=[2, 4, 16, 256])
    add("--fine-tune-steps", type=int, default=0, help="recovery steps per clustering setting")
    return common.finish_run_args(parser.parse_args(argv), argv, "qat_clustering")


def quantization(model, on):
    """Switches every fake-quantization layer of `model` on or off; returns `model`."""
    for layer in [x for _, _, x in tree.walk(model) if isinstance(x, layers.FakeQuantSwitch)]:
        layer.enable_quantization(on)
    return model


def export(model, path, mode=None):
    """`to_tflite` at batch 1, length 32, no embedding row scaling; parity measured only."""
    return to_tflite(model, path, ExportConfig(mode, sequence_lengths=32, row_scaling=False),
                     parity=Parity(atol=None, min_agreement=None), verbose=False)


def qat_runs(path, data, quick):
    """`({run: scores}, {run: QAT model})` of every run in `QAT_RUNS`, from the fine-tune."""
    runs, models = {}, {}
    for name in QAT_RUNS:
        model, (kind, _, granularity) = keras.saving.load_model(path), name.partition("_")
        keras.utils.set_random_seed(4)
        if granularity.endswith("_emb"):
            keras_compress.swap_layers(model, {keras.layers.Embedding: layers.QuantizedEmbedding},
                                       include="token_embedding", include_embeddings=True)
        weights = granularity.removesuffix("_emb")
        if kind != "float+1":
            keras_compress.swap_layers(model, {old: functools.partial(
                new.from_layer, weight_granularity=weights) for old, new in (
                    (keras.layers.EinsumDense, layers.QuantizedEinsumDense),
                    (keras.layers.Dense, layers.QuantizedDense))})
        model.compile(optimizer=keras.optimizers.AdamW(0.0 if kind == "ptq" else 2.5e-4),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        batches = common.shuffled_batches(*data["train"], 32, 1)  # ptq: ranges only, lr 0
        toggle = QATToggle(start_step=2 if quick else 20, freeze_ranges_after=4 if quick else 60)
        model.fit(batches.take(20) if kind == "ptq" else batches, epochs=1, verbose=0,
                  callbacks=[toggle] if kind == "qat" else [])
        runs[name] = {"on": evaluate(quantization(model, True) if kind == "ptq" else model,
                                     *data["test"])}
        if kind == "qat":  # the same weights in float
            runs[name]["off"] = evaluate(quantization(model, False), *data["test"])
            models[name] = quantization(model, True)
        log(f"{name}: {runs[name]}")
    return runs, models


def tflite_runs(float_model, qat_models, timed, args, folder):
    """Bytes, and macro-F1 and median ms per `timed` message at 1 and 2 threads, of 4 exports."""
    exports = {"float32": (float_model, None), "dynamic": (float_model, "dynamic"),
               "qat_int8": (qat_models["qat_per_tensor"], "int8"),
               "qat_int8_emb": (qat_models["qat_per_tensor_emb"], "int8")}
    runs = {name: {"bytes": export(model, folder / f"{name}.tflite", mode).size_bytes}
            for name, (model, mode) in exports.items()}
    for threads in (1, 2):
        runners = [bench.TFLiteRunner(folder / f"{n}.tflite", threads=threads, name=n)
                   for n in runs]
        timings = bench.time_messages(runners, timed[0], rounds=args.rounds, modes=("cold",),
                                      warmup=args.warmup, progress=False)
        for name, run in runs.items():
            run[f"ms_median_{threads}t"] = timings.stats(name, "cold")["median_ms"]
            run.update(timings.scores(name, timed[1]) if threads == 1 else {})
    return runs


def keras_int8(model, test, texts, args):
    """`model.quantize("int8")`: its scores, median ms per message vs float, and its export."""
    def median_ms(name):
        timings = bench.time_messages([bench.KerasRunner(model, sequence_length=32, name=name)],
                                      texts, modes=("cold",), warmup=args.warmup, progress=False)
        return timings.stats(name, "cold")["median_ms"]

    model.preprocessor(texts[:1])  # `quantize` needs the tokenizer built
    float_ms = median_ms("float32")  # first: `quantize` changes `model` in place
    model.quantize("int8")
    result = {"int8": evaluate(model, *test),
              "ms_median_batch1": {"float32": float_ms, "int8": median_ms("int8")}}
    try:
        result["converts"] = bool(export(model, pathlib.Path(args.out) / "keras_int8.tflite"))
    except Exception as error:  # recorded as found
        result |= {"converts": False, "convert_error": str(error).strip().splitlines()[-1][:300]}
    log(f"Keras int8: {result}")
    return result


def clustering(model, data, args):
    """`clustering.sensitivity` of the encoder and the embeddings at `--clusters`."""
    def recover(clustered):
        clustered.compile(optimizer=keras.optimizers.AdamW(1e-4),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        keras.utils.set_random_seed(5)
        clustered.fit(common.shuffled_batches(*data["train"], 32, 2).repeat(), epochs=1,
                      steps_per_epoch=args.fine_tune_steps, verbose=0)

    return {"sensitivity": sensitivity(model, data["test"], clusters=args.clusters,
                                       fine_tune=recover if args.fine_tune_steps else None)}


def sizes(model, folder):
    """`size_report` of the encoder clustered to 4 values per matrix, with two TFLite files."""
    encoder = {path for path, _ in group_layers(model, "encoder")}
    keras_compress.swap_layers(model, clustering_policy(4), include=lambda _, path: path in encoder)
    files = [export(model, folder / f"clustered_{name}.tflite", mode).path
             for name, mode in (("float32", None), ("dynamic", "dynamic"))]
    return size_report(model, folder, tflite=files)


def main(argv=None):
    args = parse_args(argv)
    out = common.start(args.out, "qat_clustering", args.argv, args.threads)
    data, label_ids = common.load_data(args.data, args.quick)
    timed = common.evenly_spaced(*data["test"], args.timing_messages)
    path = pathlib.Path(args.model) if args.model else out / "finetuned.keras"
    if not args.model and not path.exists():
        common.fine_tune_minilm(data["train"], len(label_ids), epochs=1 if args.quick else 3,
                                learning_rate=5e-4, shuffle_seed=0, verbose=2).save(path)
    load = functools.partial(keras.saving.load_model, path)
    results = {"date": datetime.date.today().isoformat(), "machine": bench.machine_line(),
               "command": common.command("qat_clustering", args.argv), "model": str(path),
               "float": evaluate(load(), *data["test"])}
    if "qat" in args.parts or "tflite" in args.parts:
        results["qat"], qat_models = qat_runs(path, data, args.quick)
    if "tflite" in args.parts:
        results["tflite"] = tflite_runs(load(), qat_models, timed, args, out / "tflite")
    if "keras_int8" in args.parts:
        results["keras_int8"] = keras_int8(load(), data["test"], timed[0][:200], args)
    if "clustering" in args.parts:
        results["clustering"] = clustering(load(), data, args)
    if "sizes" in args.parts:
        results["sizes_encoder_4_clusters"] = sizes(load(), out / "sizes_encoder_4_clusters")
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(bench.format_table([{"run": "fine-tuned float", **results["float"]}] + [
        {"run": name, **run["on"], "macro_f1 in float": run.get("off", {}).get("macro_f1")}
        for name, run in results.get("qat", {}).items()]))
    if "tflite" in results:
        print(bench.format_table([{"TFLite": k, **v} for k, v in results["tflite"].items()]))


if __name__ == "__main__":
    main()
