"""The tfmot side of the peers: tfmot on the small transformer (`_peer_model`) in tf_keras.

Called in its own process (importing tfmot sets TF_USE_LEGACY_KERAS=1, which must not leak
into the Keras 3 process) by `benchmarks/pruning.py` and `benchmarks/peer_qat_clustering.py`:

    .venv/bin/python -m benchmarks.tfmot_peer --spec runs/pruning/sara/peer/spec.json

The spec's `method` picks the peer (both sides read the same spec):

- `prune` (the default; spec from pruning.py): the initial weights per seed, the training
  order, the optimizer and the pruning schedule; `prune_low_magnitude` on the projection
  `Dense` layers for every sparsity. Writes `{"runs": [{"seed", "sparsity", "predicted",
  "kernel_sparsity", "seconds"}]}`.
- `qat_cluster` (spec from peer_qat_clustering.py): the float-trained weights per seed, the
  fine-tuning order and optimizer, and `variants`, each `{"name", "method": "float" | "qat"
  | "cluster", "clusters"}`: fine-tuned as is (`float`), after `quantize_annotate_layer` of
  the projection `Dense` layers + `quantize_apply` (`qat`), or after `cluster_weights`
  (linear centroid init) of them (`cluster`). Writes `{"runs": [{"seed", "name",
  "predicted", "distinct_values", "tflite", "seconds"}], "quantize_model": ...}`.

Output goes to the spec's `tfmot_out`, or `{"error": "..."}` with the exact error if tfmot
cannot run here. Macro-F1 is computed by the calling script with keras_compress.metrics,
the same code for both sides.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import json
import pathlib
import time
import traceback

import numpy as np

from benchmarks import _peer_model  # noqa: E402  (numpy only: no Keras 3 in this process)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", required=True, help="JSON written by benchmarks/pruning.py")
    args = parser.parse_args()
    spec = json.loads(pathlib.Path(args.spec).read_text())
    out = pathlib.Path(spec["tfmot_out"])
    try:
        import tensorflow as tf
        import tensorflow_model_optimization as tfmot
        import tf_keras
    except Exception as error:  # recorded verbatim in the benchmark doc
        out.write_text(json.dumps({"error": f"{type(error).__name__}: {error}",
                                   "traceback": traceback.format_exc()}, indent=1))
        return
    tf.config.threading.set_intra_op_parallelism_threads(spec["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(1)
    data = np.load(spec["data"])
    if spec.get("method", "prune") == "qat_cluster":
        qat_cluster(tf, tf_keras, tfmot, spec, data, out)
        return
    runs = []
    try:
        for seed in spec["seeds"]:
            for sparsity in spec["sparsities"]:
                started = time.time()
                predicted, reached = train_one(tf, tf_keras, tfmot, spec, data, seed, sparsity)
                runs.append({"seed": seed, "sparsity": sparsity, "predicted": predicted,
                             "kernel_sparsity": reached,
                             "seconds": round(time.time() - started, 1),
                             "versions": {"tensorflow": tf.__version__,
                                          "tf_keras": tf_keras.__version__,
                                          "tfmot": getattr(tfmot, "__version__", "?")}})
                print(f"[tfmot] seed {seed} sparsity {sparsity}: kernel sparsity {reached:.3f}, "
                      f"{time.time() - started:.0f}s", flush=True)
    except Exception as error:
        out.write_text(json.dumps({"error": f"{type(error).__name__}: {error}",
                                   "traceback": traceback.format_exc(), "runs": runs}, indent=1))
        raise
    out.write_text(json.dumps({"runs": runs}, indent=1))


def train_one(tf, tf_keras, tfmot, spec, data, seed, sparsity):
    tf_keras.utils.set_random_seed(seed)
    model = _peer_model.build(tf_keras, **spec["model"])
    weights = dict(np.load(spec["initial_weights"].format(seed=seed)))
    _peer_model.set_weights_dict(model, weights)
    pruned_names = set(_peer_model.pruned_layer_names(spec["model"]["num_layers"]))
    callbacks = []
    if sparsity:
        schedule = tfmot.sparsity.keras.PolynomialDecay(
            initial_sparsity=0.0, final_sparsity=sparsity, **spec["schedule"])

        def wrap(layer):  # the original layer object, so the initial weights stay
            if layer.name in pruned_names:
                return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
            return layer

        model = tf_keras.models.clone_model(model, clone_function=wrap)
        callbacks.append(tfmot.sparsity.keras.UpdatePruningStep())
    model.compile(optimizer=tf_keras.optimizers.Adam(spec["learning_rate"]),
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    order = np.load(spec["order"].format(seed=seed))
    x = {"token_ids": data["train_token_ids"][order], "padding_mask": data["train_padding_mask"][order]}
    model.fit(x, data["train_labels"][order], batch_size=spec["batch_size"], epochs=1,
              shuffle=False, verbose=0, callbacks=callbacks)
    if sparsity:
        model = tfmot.sparsity.keras.strip_pruning(model)
    kernels = [model.get_layer(name).kernel.numpy() for name in sorted(pruned_names)]
    test = {"token_ids": data["test_token_ids"], "padding_mask": data["test_padding_mask"]}
    logits = model.predict(test, batch_size=256, verbose=0)
    return np.argmax(logits, -1).tolist(), _peer_model.kernel_sparsity(kernels)


def versions(tf, tf_keras, tfmot):
    return {"tensorflow": tf.__version__, "tf_keras": tf_keras.__version__,
            "tfmot": getattr(tfmot, "__version__", "?")}


def qat_cluster(tf, tf_keras, tfmot, spec, data, out):
    """Every variant of `spec["variants"]` for every seed; writes `out` after each run."""
    result = {"runs": [], "versions": versions(tf, tf_keras, tfmot)}
    try:
        for seed in spec["seeds"]:
            for variant in spec["variants"]:
                started = time.time()
                run = train_variant(tf_keras, tfmot, spec, data, seed, variant, result)
                run.update(seed=seed, name=variant["name"], seconds=round(time.time() - started, 1))
                result["runs"].append(run)
                print(f"[tfmot] seed {seed} {variant['name']}: distinct values per kernel "
                      f"<= {max(run['distinct_values'])}, {run['seconds']:.0f}s", flush=True)
                out.write_text(json.dumps(result, indent=1))
    except Exception as error:
        result.update(error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc())
        out.write_text(json.dumps(result, indent=1))
        raise
    out.write_text(json.dumps(result, indent=1))


def train_variant(tf_keras, tfmot, spec, data, seed, variant, result):
    tf_keras.utils.set_random_seed(seed)
    custom = _peer_model.custom_objects(tf_keras)
    model = _peer_model.build(tf_keras, **spec["model"])
    _peer_model.set_weights_dict(model, dict(np.load(spec["float_weights"].format(seed=seed))))
    names = set(_peer_model.pruned_layer_names(spec["model"]["num_layers"]))
    float_kernels = {name: model.get_layer(name).kernel.numpy() for name in names}
    method = variant["method"]
    if method == "qat":
        quantize = tfmot.quantization.keras
        if "quantize_model" not in result:  # the whole-model API first, error recorded
            try:
                with quantize.quantize_scope(custom):
                    quantize.quantize_model(model)
                result["quantize_model"] = "ok"
            except Exception as error:
                result["quantize_model"] = f"{type(error).__name__}: {error}"

        def annotate(layer):  # the original layer object, so the float weights stay
            return quantize.quantize_annotate_layer(layer) if layer.name in names else layer

        annotated = tf_keras.models.clone_model(model, clone_function=annotate)
        with quantize.quantize_scope(custom):
            model = quantize.quantize_apply(annotated)
        if not all(np.array_equal(kernel_of(model, n), float_kernels[n]) for n in names):
            raise RuntimeError("quantize_apply did not keep the float kernels of the Dense layers")
    elif method == "cluster":
        clustering = tfmot.clustering.keras

        def wrap(layer):
            if layer.name in names:
                return clustering.cluster_weights(
                    layer, number_of_clusters=variant["clusters"],
                    cluster_centroids_init=clustering.CentroidInitialization.LINEAR)
            return layer

        model = tf_keras.models.clone_model(model, clone_function=wrap)
    elif method != "float":
        raise ValueError(f"unknown method {method!r}")
    layer_types = {}
    for layer in model.layers:
        kind = type(layer).__name__
        if hasattr(layer, "layer"):  # a tfmot wrapper
            kind += f"({type(layer.layer).__name__})"
        layer_types[kind] = layer_types.get(kind, 0) + 1
    model.compile(optimizer=tf_keras.optimizers.Adam(spec["learning_rate"]),
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    order = np.load(spec["order"].format(seed=seed))
    x = {"token_ids": data["train_token_ids"][order], "padding_mask": data["train_padding_mask"][order]}
    model.fit(x, data["train_labels"][order], batch_size=spec["batch_size"], epochs=1,
              shuffle=False, verbose=0)
    test = {"token_ids": data["test_token_ids"], "padding_mask": data["test_padding_mask"]}
    predicted = np.argmax(model.predict(test, batch_size=256, verbose=0), -1).tolist()
    run = {"predicted": predicted, "layer_types": layer_types}
    if method in ("float", "qat") and spec.get("tflite"):  # Optimize.DEFAULT, no representative data
        path = pathlib.Path(spec["tflite"].format(side="tfmot", name=variant["name"], seed=seed))
        path.write_bytes(_peer_model.tflite_bytes(model, spec["model"]["sequence_length"]))
        run["tflite"] = str(path)
    if method == "cluster":
        model = tfmot.clustering.keras.strip_clustering(model)
    # QAT: the trained float kernels (fake-quantized in the forward pass).
    run["distinct_values"] = _peer_model.distinct_values(
        [kernel_of(model, name) for name in sorted(names)])
    return run


def kernel_of(model, name):
    """The kernel variable of Dense layer `name`, wrapped by tfmot (`quant_<name>`) or not."""
    found = [v.numpy() for layer in model.layers if getattr(layer, "layer", layer).name == name
             for v in layer.weights if v.name.split("/")[-1] == "kernel:0"]
    if len(found) != 1:
        raise ValueError(f"{len(found)} kernels in the layer {name!r}")
    return found[0]


if __name__ == "__main__":
    main()
