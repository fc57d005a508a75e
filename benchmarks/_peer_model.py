"""The tfmot peers: a small transformer twin built the same in Keras 3 and tf_keras (its 12
projection `Dense` layers are what both libraries compress), the run both sides share (same .npz
weights, same batches), and the tfmot side, run in its own process by `run_tfmot` (importing
tfmot sets TF_USE_LEGACY_KERAS=1). Numpy only at import."""

import functools
import json
import os
import pathlib
import subprocess
import sys
import time
import traceback

import numpy as np

PRUNED_DENSE = ("query", "key", "value", "attention_output", "ffn_intermediate", "ffn_output")
INPUTS = ("token_ids", "padding_mask")


def pruned_layer_names(num_layers):
    """The Dense layers both sides compress: every projection of every block."""
    return [f"block{i}_{name}" for i in range(num_layers) for name in PRUNED_DENSE]


@functools.cache
def custom_objects(lib):
    """`{name: class}` of the twin's weightless custom layers (TensorFlow ops) for `lib`."""
    import tensorflow as tf

    class PositionEmbedding(lib.layers.Layer):
        def build(self, input_shape):  # (sequence length, hidden size)
            self.positions = self.add_weight(name="positions", initializer="glorot_uniform",
                                             shape=tuple(input_shape[1:]))

        def call(self, x):
            return x + self.positions[tf.newaxis, : tf.shape(x)[1]]

    class Attention(lib.layers.Layer):
        """Scaled dot-product attention over already projected q, k, v."""

        def __init__(self, num_heads, **kwargs):
            super().__init__(**kwargs)
            self.num_heads = num_heads

        def call(self, inputs):
            q, k, v, mask = inputs
            batch, length, width = tf.shape(q)[0], tf.shape(q)[1], q.shape[-1]
            depth = width // self.num_heads

            def heads(x):  # (batch, heads, length, depth)
                x = tf.reshape(x, (batch, length, self.num_heads, depth))
                return tf.transpose(x, (0, 2, 1, 3))

            scores = tf.matmul(heads(q), heads(k), transpose_b=True) / np.sqrt(depth)
            scores += (1.0 - tf.cast(mask, scores.dtype)[:, tf.newaxis, tf.newaxis, :]) * -1e9
            context = tf.matmul(tf.nn.softmax(scores, axis=-1), heads(v))
            return tf.reshape(tf.transpose(context, (0, 2, 1, 3)), (batch, length, width))

        def get_config(self):
            return super().get_config() | {"num_heads": self.num_heads}

    class MaskedMean(lib.layers.Layer):
        def call(self, inputs):
            x, mask = inputs
            keep = tf.cast(mask, x.dtype)[:, :, tf.newaxis]
            return tf.reduce_sum(x * keep, axis=1) / tf.maximum(tf.reduce_sum(keep, axis=1), 1.0)

    return {layer.__name__: layer for layer in (PositionEmbedding, Attention, MaskedMean)}


def build(lib, vocabulary_size, sequence_length, num_classes, num_layers=2, hidden_dim=128,
          num_heads=4, intermediate_dim=512, dropout=0.1):
    """The classifier as a Functional model of `lib` (`keras` or `tf_keras`). Each layer is made
    once the previous one ran: the seeded initial weights depend on that order."""
    layers, custom = lib.layers, custom_objects(lib)
    norm = functools.partial(layers.LayerNormalization, epsilon=1e-6)
    inputs = {n: lib.Input((sequence_length,), dtype="int32", name=n) for n in INPUTS}
    mask = inputs["padding_mask"]
    x = layers.Embedding(vocabulary_size, hidden_dim, name="token_embedding")(inputs["token_ids"])
    x = custom["PositionEmbedding"](name="position_embedding")(x)
    x = norm(name="embedding_norm")(x)
    x = layers.Dropout(dropout)(x)
    for i in range(num_layers):
        q, k, v = (layers.Dense(hidden_dim, name=f"block{i}_{n}")(x) for n in PRUNED_DENSE[:3])
        a = custom["Attention"](num_heads, name=f"block{i}_attention")([q, k, v, mask])
        a = layers.Dense(hidden_dim, name=f"block{i}_attention_output")(a)
        a = layers.Dropout(dropout)(a)
        x = norm(name=f"block{i}_attention_norm")(layers.Add()([x, a]))
        f = layers.Dense(intermediate_dim, activation="gelu", name=f"block{i}_ffn_intermediate")(x)
        f = layers.Dense(hidden_dim, name=f"block{i}_ffn_output")(f)
        f = layers.Dropout(dropout)(f)
        x = norm(name=f"block{i}_ffn_norm")(layers.Add()([x, f]))
    x = custom["MaskedMean"](name="pooling")([x, mask])
    x = layers.Dense(num_classes, name="classifier")(x)
    return lib.Model(inputs, x, name="small_transformer")


def weights_dict(model):
    return {f"{layer.name}/{j}": np.asarray(w) for layer in model.layers
            for j, w in enumerate(layer.get_weights())}


def set_weights_dict(model, weights):
    """Loads `weights_dict` output into the plain (not yet wrapped) twin."""
    weights = dict(weights)
    for layer in model.layers:
        if values := [weights.pop(f"{layer.name}/{j}") for j in range(len(layer.get_weights()))
                      if f"{layer.name}/{j}" in weights]:
            layer.set_weights(values)
    if weights:
        raise ValueError(f"no layer for the weights {sorted(weights)}")


def training_order(num_examples, epochs, batch_size, seed):
    """The training rows, epoch after epoch (reshuffled, the last partial batch dropped)."""
    rng = np.random.default_rng(seed)
    per_epoch = num_examples // batch_size * batch_size
    return np.concatenate([rng.permutation(num_examples)[:per_epoch] for _ in range(epochs)])


def start(lib, spec, seed, weights=None):
    """The twin after `set_random_seed(seed)`, holding `weights` (an .npz path with `{seed}`)."""
    lib.utils.set_random_seed(seed)
    model = build(lib, **spec["model"])
    if weights:
        set_weights_dict(model, dict(np.load(weights.format(seed=seed))))
    return model


def fit(lib, model, data, order, learning_rate, batch_size, callbacks=()):
    """Adam, one pass over the training rows `order` in that order."""
    model.compile(optimizer=lib.optimizers.Adam(learning_rate),
                  loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit({k: data[f"train_{k}"][order] for k in INPUTS}, data["train_labels"][order],
              batch_size=batch_size, epochs=1, shuffle=False, verbose=0, callbacks=list(callbacks))


def predict(model, data):
    logits = model.predict({k: data[f"test_{k}"] for k in INPUTS}, batch_size=256, verbose=0)
    return np.argmax(logits, -1).tolist()


def kernels(model, names):
    """The kernels of the Dense layers `names` (sorted), tfmot-wrapped or not."""
    found = {getattr(layer, "layer", layer).name: [
        np.asarray(v) for v in layer.weights if v.name.split("/")[-1].split(":")[0] == "kernel"]
        for layer in model.layers}
    if any(len(found[name]) != 1 for name in names):
        raise ValueError(f"not one kernel in each of {sorted(names)}")
    return [found[name][0] for name in sorted(names)]


def kernel_sparsity(kernels):
    zeros = sum(int(np.sum(np.asarray(k) == 0)) for k in kernels)
    return zeros / max(sum(np.size(k) for k in kernels), 1)


def run(lib, spec, data, seed, job, side, compress, say):
    """One side's run: the twin from the spec's weights, `compress(model, names, job)` -> (model,
    callbacks, strip), the seed's batches; test labels (pruning: stripped first), kernels."""
    started, method = time.time(), job["method"]
    model = start(lib, spec, seed, spec.get("initial_weights") or spec["float_weights"])
    names = pruned_layer_names(spec["model"]["num_layers"])
    model, callbacks, strip = compress(model, names, job)
    fit(lib, model, data, np.load(spec["order"].format(seed=seed)), spec["learning_rate"],
        spec["batch_size"], callbacks)
    model = strip(model) if method == "prune" else model
    out = {"seed": seed, "name": job["name"], "predicted": predict(model, data)}
    found = kernels(model if method == "prune" else strip(model), names)  # tfmot QAT: float
    out.update(kernel_sparsity=kernel_sparsity(found), seconds=round(time.time() - started, 1),
               distinct_values=[int(np.unique(k).size) for k in found],
               **{k: job[k] for k in job if k == "sparsity"})
    say(f"[{side}] seed {seed} {job['name']}: kernel sparsity {out['kernel_sparsity']:.3f}, "
        f"distinct values <= {max(out['distinct_values'])}, {out['seconds']:.0f}s")
    return out


def run_tfmot(folder, log):
    """Runs `python -m benchmarks._peer_model folder/spec.json`; its tfmot.json and `seconds`."""
    started, out = time.time(), folder / "tfmot.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "benchmarks._peer_model", str(folder / "spec.json")]
    log("tfmot side: " + " ".join(command))
    root = str(pathlib.Path(__file__).resolve().parents[1])  # where `benchmarks` is a package
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    code = subprocess.run(command, env={**os.environ, "PYTHONPATH": path}).returncode
    tfmot = json.loads(out.read_text()) if out.is_file() else {}
    if code or "error" in tfmot:
        log(f"tfmot failed: {tfmot.setdefault('error', f'exit status {code}')}")
    return tfmot | {"seconds": round(time.time() - started, 1)}


def tfmot_side(spec_path):
    """Every seed x sparsity (`method` "prune": pruning.py) or variant (`qat_cluster`) through
    `run` with `tfmot_wrap`; writes `spec["tfmot_out"]` after each run, `error` if one fails."""
    spec = json.loads(pathlib.Path(spec_path).read_text())
    out, result = pathlib.Path(spec["tfmot_out"]), {"runs": []}
    try:
        import tensorflow as tf
        import tensorflow_model_optimization as tfmot
        import tf_keras

        tf.config.threading.set_intra_op_parallelism_threads(spec["threads"])
        tf.config.threading.set_inter_op_parallelism_threads(1)
        result["versions"] = {"tensorflow": tf.__version__, "tf_keras": tf_keras.__version__,
                              "tfmot": getattr(tfmot, "__version__", "?")}
        data, wrap = np.load(spec["data"]), functools.partial(tfmot_wrap, tfmot, spec, result)
        jobs = spec["variants"] if spec.get("method") == "qat_cluster" else [
            {"name": f"sparsity {s}", "method": "prune", "sparsity": s} for s in spec["sparsities"]]
        for seed in spec["seeds"]:
            for job in jobs:
                done = run(tf_keras, spec, data, seed, job, "tfmot", wrap, print)
                result["runs"].append(done | {"versions": result["versions"]})
                out.write_text(json.dumps(result, indent=1))
    except Exception as error:
        result.update(error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc())
        out.write_text(json.dumps(result, indent=1))
        raise


def tfmot_wrap(tfmot, spec, result, model, names, job):
    """tfmot on the layers `names` (same layer objects: weights kept): (model, callbacks, strip)."""
    import tf_keras

    pruning, quantize, clustering = (tfmot.sparsity.keras, tfmot.quantization.keras,
                                     tfmot.clustering.keras)

    def clone(wrap):
        return tf_keras.models.clone_model(
            model, clone_function=lambda layer: wrap(layer) if layer.name in names else layer)

    if job["method"] == "prune" and job["sparsity"]:
        schedule = pruning.PolynomialDecay(initial_sparsity=0.0, final_sparsity=job["sparsity"],
                                           **spec["schedule"])
        return (clone(lambda layer: pruning.prune_low_magnitude(layer, pruning_schedule=schedule)),
                [pruning.UpdatePruningStep()], pruning.strip_pruning)
    if job["method"] == "cluster":
        return (clone(lambda layer: clustering.cluster_weights(
                    layer, number_of_clusters=job["clusters"],
                    cluster_centroids_init=clustering.CentroidInitialization.LINEAR)),
                [], clustering.strip_clustering)
    if job["method"] == "qat":
        with quantize.quantize_scope(custom_objects(tf_keras)):
            if "quantize_model" not in result:  # the whole-model API first, its error recorded
                try:
                    quantize.quantize_model(model)
                    result["quantize_model"] = "ok"
                except Exception as error:
                    result["quantize_model"] = f"{type(error).__name__}: {error}"
            quantized = quantize.quantize_apply(clone(quantize.quantize_annotate_layer))
        if not all(map(np.array_equal, kernels(quantized, names), kernels(model, names))):
            raise RuntimeError("quantize_apply did not keep the float kernels of the Dense layers")
        return quantized, [], lambda model: model
    return model, [], lambda model: model  # prune at sparsity 0, float


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stdout.reconfigure(line_buffering=True)  # each run's line shows as it ends
    tfmot_side(sys.argv[1])
