"""QAT int8 and k-means clustering of MiniLM on Sara: macro-F1, file sizes, TFLite latency.

    .venv/bin/python -m benchmarks.qat_clustering --data ../shared/data/sara --out runs/qat_clustering

Fine-tunes MiniLM-L6 on Sara's train split with the test fixture's recipe (3 epochs, AdamW
5e-4, batch 32, length 32; or `--model` loads a saved `.keras`), then, from that model:

- `float+1`: one more float epoch (AdamW 2.5e-4): the control for the QAT runs, which also
  train one more epoch;
- `qat_per_tensor`, `qat_per_channel`: `QuantizedDense` / `QuantizedEinsumDense` swapped in,
  one epoch with `QATToggle(start_step=20, freeze_ranges_after=60)` (the CI test's recipe);
  scored with quantization on, and off (same weights in float); `qat_per_tensor_emb`: the
  same plus `QuantizedEmbedding` (int8 weight-only) on the token embedding;
- `ptq_per_tensor`, `ptq_per_channel`: the same layers, ranges tracked on 20 training
  batches with a zero learning rate, quantization switched on, no training;
- TFLite (batch 1, length 32, converted from a SavedModel of the signature's variables):
  `float32` (stripped float model), `dynamic` (Optimize.DEFAULT on the float model),
  `qat_int8` (Optimize.DEFAULT on the QAT model, QAT layers kept, no representative data),
  `qat_int8_emb` (the same from `qat_per_tensor_emb`);
  macro-F1 of each on the test split and per-message latency (median over the test
  messages, blocks rotated `--rounds` times) at 1 and 2 threads;
- Keras `model.quantize("int8")`: macro-F1, latency of `predict_on_batch` at batch 1
  versus the float Keras model, and whether it converts to TFLite;
- clustering: `keras_compress.clustering.sensitivity` post-training (and, with
  `--fine-tune-steps`, after a short recovery fine-tune) for `--clusters` and groups
  encoder / embeddings;
- sizes: the encoder clustered to 4 values per matrix, through `size_report` with its
  float32 and dynamic-range TFLite conversions.

Writes `results.json` into `--out` and prints Markdown tables.
"""

import argparse
import datetime
import functools
import json
import pathlib
import sys
import time

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

import keras_compress
from benchmarks import _peer_model, common
from keras_compress.bench import FunctionRunner, format_table, machine, machine_line, time_messages
from keras_compress.callbacks import QATToggle
from keras_compress.clustering import group_layers, sensitivity
from keras_compress.evaluation import evaluate
from keras_compress.layers import (
    FakeQuantSwitch,
    KMeansDense,
    KMeansEinsumDense,
    QuantizedDense,
    QuantizedEinsumDense,
    QuantizedEmbedding,
)
from keras_compress.size_report import size_report
from keras_compress.surgery import tree

PARTS = ("qat", "tflite", "keras_int8", "clustering", "sizes")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data/sara", help="folder with *.jsonl")
    parser.add_argument("--out", default="runs/qat_clustering", help="output folder")
    parser.add_argument("--model", help="a fine-tuned .keras to load instead of fine-tuning")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"subset of {PARTS}")
    parser.add_argument("--clusters", default="2,4,16,256")
    parser.add_argument("--fine-tune-steps", type=int, default=0,
                        help="recovery fine-tune steps per clustering setting (0: post-training)")
    parser.add_argument("--rounds", type=int, default=3, help="latency rounds per variant")
    parser.add_argument("--limit", type=int, help="time only the first N test messages")
    return parser.parse_args()


def main():
    args = parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data, label_ids = common.load_data(args.data)

    def encode(split):
        return data[split]

    base_path = out / "finetuned.keras"
    if args.model:
        base_path = pathlib.Path(args.model)
    elif not base_path.exists():
        model = common.fine_tune_minilm(encode("train"), len(label_ids), epochs=3,
                                        learning_rate=5e-4, shuffle_seed=0, verbose=2)
        model.save(base_path)
    results = {
        "date": datetime.date.today().isoformat(),
        "machine": machine_line(machine()),
        "command": common.command("qat_clustering", sys.argv[1:]),
        "model": str(base_path),
    }
    parts = args.parts.split(",")
    bench = Bench(base_path, encode, args)
    results["float"] = bench.score(bench.load())
    print("float", results["float"], flush=True)
    if "qat" in parts or "tflite" in parts:
        results["qat"] = bench.qat_runs()
    if "tflite" in parts:
        results["tflite"] = bench.tflite_runs()
    if "keras_int8" in parts:
        results["keras_int8"] = bench.keras_int8()
    if "clustering" in parts:
        results["clustering"] = bench.clustering([int(c) for c in args.clusters.split(",")],
                                                 out)
    if "sizes" in parts:
        results["sizes_encoder_4_clusters"] = bench.sizes(out)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print_tables(results)


class Bench:
    def __init__(self, base_path, encode, args):
        self.base_path = base_path
        self.encode = encode
        self.args = args
        self.qat_models = {}

    def load(self):
        return keras.saving.load_model(self.base_path)

    def score(self, model):
        return evaluate(model, *self.encode("test"))

    def compile(self, model, learning_rate):
        model.compile(optimizer=keras.optimizers.AdamW(learning_rate),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    def swap_qat(self, model, granularity):


        if granularity.endswith("_emb"):
            granularity = granularity[: -len("_emb")]
            keras_compress.swap_layers(model, {keras.layers.Embedding: QuantizedEmbedding},
                                       include="token_embedding", include_embeddings=True)
        keras_compress.swap_layers(model, {
            keras.layers.EinsumDense: lambda layer: QuantizedEinsumDense.from_layer(
                layer, weight_granularity=granularity),
            keras.layers.Dense: lambda layer: QuantizedDense.from_layer(
                layer, weight_granularity=granularity),
        })

    def qat_layers(self, model):
        return [layer for _, _, layer in tree.walk(model) if isinstance(layer, FakeQuantSwitch)]

    def qat_runs(self):


        runs = {}
        train = self.encode("train")
        for name in ("float+1", "qat_per_tensor", "qat_per_tensor_emb", "qat_per_channel",
                     "ptq_per_tensor", "ptq_per_channel"):
            model = self.load()
            keras.utils.set_random_seed(4)
            started = time.monotonic()
            granularity = name.split("_", 1)[-1]
            if name == "float+1":
                self.compile(model, 2.5e-4)
                model.fit(common.shuffled_batches(*train, 32, 1), epochs=1, verbose=0)
                runs[name] = {"on": self.score(model)}
            elif name.startswith("qat"):
                self.swap_qat(model, granularity)
                self.compile(model, 2.5e-4)
                model.fit(common.shuffled_batches(*train, 32, 1), epochs=1, verbose=0,
                          callbacks=[QATToggle(start_step=20, freeze_ranges_after=60)])
                runs[name] = {"on": self.score(model)}
                for layer in self.qat_layers(model):
                    layer.enable_quantization(False)
                runs[name]["off"] = self.score(model)
                for layer in self.qat_layers(model):
                    layer.enable_quantization(True)
                self.qat_models[granularity] = model
            else:
                self.swap_qat(model, granularity)
                self.compile(model, 0.0)
                model.fit(common.shuffled_batches(*train, 32, 1).take(20), epochs=1, verbose=0)
                for layer in self.qat_layers(model):
                    layer.enable_quantization(True)
                runs[name] = {"on": self.score(model)}
            runs[name]["seconds"] = time.monotonic() - started
            print(name, runs[name], flush=True)
        return runs

    def test_messages(self, model):
        """`(texts, labels, prepare)`: the test messages (`--limit`), and `prepare(text)`
        giving a message's batch-1 inputs packed by `model`'s preprocessor (length 32)."""
        texts, labels = self.encode("test")
        if self.args.limit is not None:
            texts, labels = texts[: self.args.limit], labels[: self.args.limit]
        packed = model.preprocessor(texts)
        if isinstance(packed, tuple):
            packed = packed[0]
        packed = {k: np.asarray(v).astype("int32") for k, v in packed.items()}
        rows = {text: i for i, text in enumerate(texts)}
        return texts, labels, lambda text: {k: v[rows[text]:rows[text] + 1]
                                            for k, v in packed.items()}

    def tflite_runs(self):
        float_model = self.load()
        if "per_tensor" not in self.qat_models:
            self.qat_runs()
        contents = {
            "float32": convert(keras_compress.strip(float_model), optimize=False),
            "dynamic": convert(keras_compress.strip(float_model), optimize=True),
            "qat_int8": convert(self.qat_models["per_tensor"], optimize=True),
            "qat_int8_emb": convert(self.qat_models["per_tensor_emb"], optimize=True),
        }
        texts, labels, prepare = self.test_messages(float_model)
        runs = {name: {"bytes": len(content)} for name, content in contents.items()}
        for threads in (1, 2):
            runners = [tflite_runner(content, threads, name, prepare)
                       for name, content in contents.items()]
            timings = time_messages(runners, texts, rounds=self.args.rounds, modes=("cold",),
                                    progress=False)
            for name in contents:
                runs[name][f"ms_median_{threads}t"] = timings.stats(name, "cold")["median_ms"]
                if threads == 1:
                    runs[name].update(timings.scores(name, labels))
        print("tflite", runs, flush=True)
        return runs

    def keras_int8(self):


        result = {}
        model = self.load()
        texts, _, prepare = self.test_messages(model)
        medians = {}
        for name in ("float32", "int8"):  # one after the other: int8 quantizes `model` in place
            if name == "int8":
                model.quantize("int8")
                result["int8"] = self.score(model)
            call = tf.function(lambda x: model(x, training=False))
            runner = FunctionRunner(call, name=name, prepare=prepare)
            timings = time_messages([runner], texts[:200], modes=("cold",), warmup=5,
                                    progress=False)
            medians[name] = timings.stats(name, "cold")["median_ms"]
        result["ms_median_batch1"] = medians
        try:
            convert(model, optimize=False)
            result["converts"] = True
        except Exception as error:  # the converter's error, recorded as found
            result["converts"] = False
            lines = [line for line in str(error).splitlines() if "error:" in line]
            result["convert_error"] = (lines or [str(error)])[-1].split("error:")[-1].strip()[:300]
        keras.backend.clear_session()
        print("keras int8", result, flush=True)
        return result

    def clustering(self, clusters, out):


        model = self.load()
        fine_tune = None
        if self.args.fine_tune_steps:
            train = self.encode("train")

            def fine_tune(clustered):
                self.compile(clustered, 1e-4)
                keras.utils.set_random_seed(5)
                clustered.fit(common.shuffled_batches(*train, 32, 2).repeat(), epochs=1,
                              steps_per_epoch=self.args.fine_tune_steps, verbose=0)

        rows = sensitivity(model, self.encode("test"), clusters=clusters,
                           groups=("encoder", "embeddings"), fine_tune=fine_tune)
        return {"sensitivity": rows}

    def sizes(self, out):
        model = self.load()
        encoder = {path for path, _ in group_layers(model, "encoder")}
        keras_compress.swap_layers(model, lambda layer, path: (
            functools.partial({"EinsumDense": KMeansEinsumDense, "Dense": KMeansDense}[
                type(layer).__name__].from_layer, n_clusters=4) if path in encoder else None))
        folder = out / "sizes_encoder_4_clusters"
        folder.mkdir(parents=True, exist_ok=True)
        stripped = keras_compress.strip(model)
        files = []
        for name, optimize in (("float32", False), ("dynamic", True)):
            path = folder / f"clustered_{name}.tflite"
            path.write_bytes(convert(stripped, optimize=optimize))
            files.append(path)
        return size_report(model, folder, tflite=files)


def convert(model, optimize):
    """TFLite bytes of `model(packed inputs)` at batch 1, length 32."""
    return _peer_model.tflite_bytes(model, 32, optimize,
                                    inputs=("token_ids", "segment_ids", "padding_mask"))


def tflite_runner(content, threads, name, prepare):
    """A `keras_compress.bench` runner of a raw `.tflite` (no metadata) on packed inputs."""


    interpreter = Interpreter(model_content=content, num_threads=threads)
    interpreter.allocate_tensors()
    signature = interpreter.get_signature_runner()
    return FunctionRunner(lambda x: signature(**x)["logits"], name=name, prepare=prepare)


def print_tables(results):
    rows = [{"run": "fine-tuned float", "macro-F1": results["float"]["macro_f1"],
             "accuracy": results["float"]["accuracy"]}]
    for name, run in results.get("qat", {}).items():
        rows.append({"run": name, "macro-F1": run["on"]["macro_f1"],
                     "accuracy": run["on"]["accuracy"],
                     "macro-F1, same weights in float": run.get("off", {}).get("macro_f1")})
    print("\n" + format_table(rows))
    if "tflite" in results:
        print("\n" + format_table([
            {"TFLite": name, "bytes": f"{run['bytes']:,}", "macro-F1": run["macro_f1"],
             "ms/message 1 thread": run["ms_median_1t"], "2 threads": run["ms_median_2t"]}
            for name, run in results["tflite"].items()]))
    if "keras_int8" in results:
        print("\nKeras model.quantize('int8'):", json.dumps(results["keras_int8"]))


if __name__ == "__main__":
    main()
