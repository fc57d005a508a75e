"""Per-message latency and macro-F1 of one BERT text classifier served several ways (issues 5, 15).

    .venv/bin/python -m benchmarks.export_latency --model teacher.keras \
        --compressed-model 2L.keras --trim-vocabulary --bert-base 3L_ffn50

`--model` (with `--prune-heads` / `--prune-neurons`: its control, one more epoch as the pruned
arm gets in `benchmarks/pruning.py`) in Keras fp32 and `quantize("int8")` at 64 tokens,
`to_tflite(..., "dynamic")` at 64 and in `--buckets`; the compressed model (pruned, or
`--compressed-model`) as TFLite in `--buckets` (and trimmed to the training messages' vocabulary
with `--trim-vocabulary`); ONNX Runtime dynamic int8 of Keras's ONNX export with a dynamic
sequence axis, each message at its exact length, for both models. `keras_compress.bench` times
them all (batch 1, interleaved, warm and cold); a peer that fails is recorded in `peers`.
`--bert-base` times a random BERT-base and student shapes of it at 64 tokens.
"""

import argparse
import datetime
import gc
import json
import sys
import time
import traceback

import keras
import numpy as np
import tensorflow as tf

import keras_compress
from benchmarks import common, pruning
from benchmarks.common import log
from benchmarks.distillation import CANDIDATES
from keras_compress import bench
from keras_compress.evaluation import evaluate
from keras_compress.export import ExportConfig, Parity, to_tflite
from keras_compress.recipes import CompressConfig

# Timed against every base; a compressed candidate also against the bases of its own model.
CANDIDATE_VARIANTS = ("tflite_compressed", "tflite_compressed_trimmed", "tflite_buckets",
                      "tflite_dynamic_64")
BASES = ("keras_fp32_64", "keras_int8_64", "onnx_int8_exact", "tflite_dynamic_64",
         "tflite_buckets", "onnx_int8_exact_compressed")
EXACT_LENGTHS = tuple(range(3, 65))  # ONNX Runtime: each message at its own length, up to 64


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--data", default="../shared/data/sara", help="folder with {train,valid,test}.jsonl")
    add("--out", default="runs/export_latency", help="output folder")
    add("--model", required=True, help="the fine-tuned .keras text classifier")
    add("--compressed-model", help="a compressed .keras to use instead of pruning --model")
    add("--trim-vocabulary", action="store_true",
        help="also export the compressed model with only the training messages' tokens")
    add("--prune-heads", type=float, default=0.0, help="fraction of heads to prune")
    add("--prune-neurons", type=float, default=0.0, help="fraction of FFN neurons to prune")
    add("--recovery-lr", type=float, default=1e-4, help="AdamW rate of the extra epoch")
    add("--seed", type=int, default=2019)
    add("--buckets", default=",".join(map(str, CompressConfig.sequence_lengths)),
        help="sequence lengths of the bucketed exports (default: the main job's)")
    add("--threads", type=int, default=2)
    add("--warmup", type=int, default=20, help="untimed calls per variant")
    add("--rounds", type=int, default=3, help="timing rounds")
    add("--limit", type=int, help="time only the first N test messages")
    add("--peers", default="keras_int8,onnx",
        help="comma-separated peers to time: keras_int8 (Keras quantize('int8') at 64), onnx "
             "(ONNX Runtime dynamic int8 of both models); '' for none")
    add("--bert-base", metavar="STUDENTS",
        help=f"also time a random BERT-base and these students of it (their shapes; "
             f"comma-separated, of {', '.join(CANDIDATES)}) at 64 tokens")
    add("--bert-base-messages", type=int, default=200, help="messages timed for BERT-base")
    args = parser.parse_args()
    args.argv, args.buckets = sys.argv[1:], tuple(int(b) for b in args.buckets.split(","))
    args.peers = {peer for peer in args.peers.split(",") if peer}
    args.bert_base = args.bert_base.split(",") if args.bert_base else []
    if set(args.bert_base) - set(CANDIDATES):
        parser.error(f"--bert-base: unknown {sorted(set(args.bert_base) - set(CANDIDATES))}; "
                     f"choose from {', '.join(CANDIDATES)}")
    if args.peers - {"keras_int8", "onnx"}:
        parser.error(f"--peers: unknown {sorted(args.peers - {'keras_int8', 'onnx'})}; "
                     "choose from keras_int8, onnx")
    return args


def main():
    args = parse_args()
    out = common.start(args.out, "export_latency", args.argv, args.threads)
    data, label_ids = common.load_data(args.data)
    info = bench.machine(packages=("onnxruntime", "onnx", "tf2onnx"))
    results = {"command": common.command("export_latency", args.argv), "data": args.data,
               "versions": info,
               "date": datetime.date.today().isoformat(), "machine": bench.machine_line(info),
               "threads": args.threads, "rounds": args.rounds, "buckets": list(args.buckets),
               "prune": {"heads": args.prune_heads, "neurons": args.prune_neurons}}
    model, compressed, control_path = load_models(args, data, out, results)
    texts, gold = (split[: args.limit] for split in data["test"])
    runners, exports, results["peers"] = variants(args, model, compressed, control_path,
                                                  sorted(label_ids, key=label_ids.get), data,
                                                  texts, out)
    log(f"timing {len(runners)} variants x {len(texts)} messages x {args.rounds} rounds")
    timings = bench.time_messages(runners, texts, rounds=args.rounds, warmup=args.warmup,
                                  progress=False)
    pairs = [(c, b) for c in CANDIDATE_VARIANTS for b in BASES if c != b
             and {c, b} <= set(timings.names) and ("compressed" in c or "compressed" not in b)]
    results.update(summary(timings, exports, pairs, gold), messages=len(texts),
                   bucket_share=runners[-1].bucket_share(texts))
    results["variants"]["tokenize"] = timings.stats("keras_fp32_64", "prepare")
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    if args.bert_base:
        del runners, timings  # their interpreters and traces
        gc.collect()
        results["bert_base"] = bert_base(args, len(label_ids), texts[: args.bert_base_messages],
                                         out, model)
    results["seconds"] = round(time.time() - common.STARTED, 1)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print_tables(results)
    log(f"done; {out / 'results.json'}")


def load_models(args, data, out, results):
    """`(uncompressed model, compressed model, the uncompressed one's path)`; their Keras scores
    on all test messages (through the preprocessor) go into `results`."""
    started, path = time.time(), args.model
    model = compressed = keras.saving.load_model(path)
    scores = {"fine_tuned": evaluate(model, *data["test"])}
    if args.compressed_model:  # --model is then its uncompressed reference
        compressed = keras.saving.load_model(args.compressed_model)
    elif args.prune_heads or args.prune_neurons:  # the same extra epoch, pruning or not
        compressed = prune(path, data["train"], args, neurons=args.prune_neurons,
                           heads=args.prune_heads)
        model, path = prune(path, data["train"], args), out / "control.keras"
        compressed.save(out / "pruned.keras")
        model.save(path)
        scores["control"] = evaluate(model, *data["test"])
    if compressed is not model:
        scores["compressed"] = evaluate(compressed, *data["test"])
    results.update(train_seconds=round(time.time() - started, 1), keras_test_all_messages=scores)
    return model, compressed, path


def prune(path, train, args, **fractions):
    """`path`'s model after one more epoch that prunes `fractions` (`neurons=`, `heads=`; none:
    the control): `benchmarks.pruning.recover`, its schedule, importance batches and seeds."""
    spec = {kind: fraction for kind, fraction in fractions.items() if fraction}
    log(f"extra epoch, AdamW {args.recovery_lr}, pruning {spec or 'nothing'}")
    recovery = argparse.Namespace(seed=args.seed, recovery_lr=args.recovery_lr, recovery_epochs=1.0)
    return pruning.recover(spec, recovery, path, {"train": train})[0]


def variants(args, model, compressed, control_path, names, data, texts, out):
    """`(runners, {name: ExportReport}, {peer: info})`: Keras padded to 64 tokens as
    `keras_fp32_64` packs them, ONNX Runtime at each message's length, TFLite in its buckets
    (`tflite_compressed` and its trimmed copy last), each with the tokenizer saved beside it."""
    fp32 = bench.KerasRunner(model, sequence_length=64, name="keras_fp32_64")
    runners, peers, found = [fp32], {}, []
    if "keras_int8" in args.peers:
        peers["keras_int8_64"] = {}
        found.append(attempt(peers["keras_int8_64"], keras_int8, control_path, fp32,
                             [fp32.prepare(text) for text in texts[:16]]))
    if "onnx" in args.peers:
        onnx = {"onnx_int8_exact": model}
        if compressed is not model:
            onnx["onnx_int8_exact_compressed"] = keras_compress.strip(compressed)
        for name, exported in onnx.items():
            peers[name] = {}
            found.append(attempt(peers[name], onnx_dynamic_int8, name, exported, fp32.tokenizer,
                                 out, args.threads, texts[:16]))
    runners += [runner for runner in found if runner is not None]
    exports = {"tflite_dynamic_64": (model, (64,))}
    if compressed is not model:  # buckets without compression: the two effects apart
        exports["tflite_buckets"] = (model, args.buckets)
    exports["tflite_compressed"] = (compressed, args.buckets)
    if args.trim_vocabulary:
        exports["tflite_compressed_trimmed"] = (keras_compress.trim_vocabulary(
            keras_compress.strip(compressed), data["train"][0]), args.buckets)
    parity = Parity.for_quantization("dynamic", data=data["valid"][0])
    for name, (exported, lengths) in exports.items():
        exports[name] = report = to_tflite(
            exported, out / f"{name}.tflite", ExportConfig("dynamic", sequence_lengths=lengths),
            parity=parity, label_names=names, verbose=False)
        log(f"{name}: {report.size_bytes / 1e6:.2f} MB, parity on valid {report.parity}")
        runners.append(bench.TFLiteRunner(report.path, threads=args.threads, name=name))
    return runners, exports, peers


def attempt(info, build, *args):
    """`build(info, *args)` (a runner), or `None` with the error in `info` (a result)."""
    try:
        return build(info, *args)
    except Exception as error:  # a peer that fails on this stack is a result
        traceback.print_exc()
        info["error"] = f"{type(error).__name__}: {' '.join(str(error).split())}"
        log(f"{build.__name__} does not run: {info['error']}")


def keras_int8(info, path, fp32, check):
    """Keras 3 `model.quantize("int8")` of the saved control, padded to 64 tokens."""
    model = keras.saving.load_model(path)
    model.preprocessor(["hello"])  # builds a loaded tokenizer: quantize() refuses unbuilt layers
    model.quantize("int8")
    runner = bench.KerasRunner(model, sequence_length=64, name="keras_int8_64",
                               tokenizer=fp32.tokenizer)
    runner.run(check[0])  # traces it: a failure here is a failed peer too
    return runner


def onnx_dynamic_int8(info, name, model, tokenizer, folder, threads, check):
    """Keras's ONNX export of `model` with a dynamic sequence axis, onnxruntime
    `quantize_dynamic` (QInt8), fed each message at its exact length (up to 64) on `threads`
    threads without spinning (idle workers would take the next variant's cores); checked
    against Keras on the `check` texts at the same lengths."""
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    keras_exact = bench.KerasRunner(model, sequence_lengths=EXACT_LENGTHS, tokenizer=tokenizer,
                                    name=f"keras {name}")
    float_path, path = folder / f"{name}_fp32.onnx", folder / f"{name}.onnx"
    spec = {key: tf.TensorSpec((1, None), tf.int32, name=key) for key in model.input}
    model.export(str(float_path), format="onnx", verbose=False, input_signature=[spec])
    quantize_dynamic(str(float_path), str(path), weight_type=QuantType.QInt8)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inputs = [i.name for i in session.get_inputs()]
    runner = bench.FunctionRunner(lambda x: session.run(None, {n: x[n] for n in inputs})[0][0],
                                  name=name, prepare=keras_exact.prepare)
    logits, reference = (np.stack([run(text) for text in check])
                         for run in (runner, keras_exact))
    info.update(size_mb=path.stat().st_size / 1e6,
                max_abs_diff_vs_keras=float(np.abs(logits - reference).max()),
                label_agreement_vs_keras=float(np.mean(logits.argmax(-1) == reference.argmax(-1))))
    return runner


def summary(timings, exports, pairs, gold=None):
    """Per variant warm stats (flat, as benchmarks/run.py reads them), warm and cold, scores and
    export; `base / candidate` ratios of the `(candidate, base)` pairs (on shared messages)."""
    found = {}
    for name in timings.names:
        entry = found[name] = {mode: {**timings.stats(name, mode), "messages":
                                      timings.messages(name)} for mode in bench.MODES}
        entry.update(entry["warm"], **({} if gold is None else timings.scores(name, gold)))
        if name in exports:
            entry.update(size_mb=exports[name].size_bytes / 1e6, params=exports[name].params,
                         parity=exports[name].parity)
    ratios = {mode: {f"{c}_vs_{b}": {stat: timings.speedup(b, c, mode, stat)
                                     for stat in ("mean", "median")} for c, b in pairs}
              for mode in bench.MODES}
    return {"variants": found, "ratios": ratios,
            "load_average_1_5_15_min": timings.settings["load_average"]}


def bert_base(args, num_classes, texts, out, model):
    """A random BERT-base classifier (12 x 768, FFN 3072) and its `--bert-base` students
    (`Candidate.make_student`: their shapes, weights copied), timed at 64 tokens on `texts`
    packed by `model`'s tokenizer (BERT's vocabulary; the weights are random)."""
    import keras_hub

    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(30522, 12, 12, 768, 3072)
    plain = keras_hub.models.BertTextClassifier(backbone, num_classes, preprocessor=None)
    exports = {}
    for student in [None, *args.bert_base]:  # one student in memory at a time
        name = f"tflite_{student or 'dynamic'}_64"
        exported = plain if student is None else CANDIDATES[student].make_student(plain)
        exports[name] = to_tflite(exported, out / f"bert_base_{name}.tflite",
                                  ExportConfig("dynamic", sequence_lengths=(64,)), verbose=False,
                                  parity=Parity(atol=None, min_agreement=None))
        del exported
        gc.collect()
    runners = [bench.KerasRunner(plain, name="keras_fp32_64",
                                 tokenizer=model.preprocessor.tokenizer)]
    runners += [bench.TFLiteRunner(r.path, threads=args.threads, name=name,
                                   tokenizer=runners[0].tokenizer) for name, r in exports.items()]
    log(f"BERT-base: timing {len(runners)} variants x {len(texts)} messages")
    timings = bench.time_messages(runners, texts, rounds=args.rounds, warmup=args.warmup,
                                  progress=False)
    pairs = [(name, base) for name in exports for base in ("keras_fp32_64", "tflite_dynamic_64")
             if name != base]
    return {**summary(timings, exports, pairs), "messages": len(texts),
            "students": args.bert_base, "params_uncompressed": int(plain.count_params())}


def print_tables(results):
    """The variants and their ratios (and BERT-base's); peer errors, bucket share, Keras scores."""
    print(*(f"{name} does not run: {p['error']}" for name, p in results["peers"].items()
            if "error" in p), sep="\n")
    blocks = [(f"{results['messages']} test messages, batch 1, {results['threads']} threads, "
               f"{results['rounds']} interleaved rounds, {results['machine']}", results)]
    if "bert_base" in results:
        blocks.append((f"BERT-base shape and its students {results['bert_base']['students']}, "
                       "random weights, 64 tokens", results["bert_base"]))
    for title, block in blocks:
        print(f"\n{title}, load average {block['load_average_1_5_15_min']}")
        print(bench.format_table([{"variant": name, "messages": e.get("messages"), **{
            f"{mode} {stat} ms": e.get(mode, e if mode == "warm" else {}).get(f"{stat}_ms")
            for mode in bench.MODES for stat in ("mean", "median", "p90")},
            "macro-F1": e.get("macro_f1"), "accuracy": e.get("accuracy"),
            "size MB": e.get("size_mb")} for name, e in block["variants"].items()]))
        print(bench.format_table([{"base / candidate": pair, **{
            f"{mode} {stat}": f"{block['ratios'][mode][pair][stat]:.2f}x"
            for mode in bench.MODES for stat in ("mean", "median")}}
            for pair in block["ratios"]["warm"]]))
    print("bucket share:", results["bucket_share"], "\nKeras, all test messages:",
          json.dumps(results["keras_test_all_messages"]))


if __name__ == "__main__":
    main()
