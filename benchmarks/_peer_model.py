"""The small transformer intent classifier of the tfmot peer, for Keras 3 and for tf_keras.

Used by `benchmarks/pruning.py` (Keras 3, `keras_compress.callbacks.MagnitudePruning`) and by
`benchmarks/tfmot_peer.py` (tf_keras, `tfmot.sparsity.keras.prune_low_magnitude`), so the
two sides build the same graph from the same code (as do the two sides of the QAT and
clustering peer, `benchmarks/peer_qat_clustering.py`): token + position embeddings, then
`num_layers` post-norm encoder blocks whose query, key, value, attention-output and both
feed-forward projections are plain `Dense` layers (what both pruning libraries wrap), then
masked mean pooling and a `Dense` classifier (not pruned on either side).

`build(lib, ...)` takes the Keras module (`keras` or `tf_keras`); the two weightless custom
layers use TensorFlow ops, which both run (Keras 3 runs on the TensorFlow backend here).
Weights are exchanged as `{"<layer name>/<index>": array}` (`weights_dict` /
`set_weights_dict`), so both sides start from the same initial weights.
"""

import numpy as np

PRUNED_DENSE = ("query", "key", "value", "attention_output", "ffn_intermediate", "ffn_output")


def pruned_layer_names(num_layers):
    """Names of the Dense layers both sides prune (every projection of every block)."""
    return [f"block{i}_{name}" for i in range(num_layers) for name in PRUNED_DENSE]


_CUSTOM_OBJECTS = {}


def custom_objects(lib):
    """`{name: class}` of the custom layers for `lib`, made once per library (pass it to
    `custom_object_scope` around anything that deserializes the model, e.g. `strip`)."""
    if lib.__name__ not in _CUSTOM_OBJECTS:
        _CUSTOM_OBJECTS[lib.__name__] = _define_layers(lib)
    return _CUSTOM_OBJECTS[lib.__name__]


def _define_layers(lib):
    import tensorflow as tf

    layers = lib.layers

    class PositionEmbedding(layers.Layer):
        def __init__(self, sequence_length, hidden_dim, **kwargs):
            super().__init__(**kwargs)
            self.sequence_length, self.hidden_dim = sequence_length, hidden_dim

        def build(self, input_shape):
            self.positions = self.add_weight(
                name="positions", shape=(self.sequence_length, self.hidden_dim),
                initializer="glorot_uniform")
            super().build(input_shape)

        def call(self, x):
            return x + self.positions[tf.newaxis, : tf.shape(x)[1]]

        def get_config(self):
            return super().get_config() | {"sequence_length": self.sequence_length,
                                           "hidden_dim": self.hidden_dim}

    class Attention(layers.Layer):
        """Scaled dot-product attention over already projected q, k, v (no weights)."""

        def __init__(self, num_heads, **kwargs):
            super().__init__(**kwargs)
            self.num_heads = num_heads

        def call(self, inputs):
            q, k, v, mask = inputs
            batch, length = tf.shape(q)[0], tf.shape(q)[1]
            depth = q.shape[-1] // self.num_heads

            def heads(x):  # (batch, heads, length, depth)
                return tf.transpose(tf.reshape(x, (batch, length, self.num_heads, depth)),
                                    (0, 2, 1, 3))

            scores = tf.matmul(heads(q), heads(k), transpose_b=True) / np.sqrt(depth)
            keep = tf.cast(mask, scores.dtype)[:, tf.newaxis, tf.newaxis, :]
            scores += (1.0 - keep) * -1e9
            context = tf.matmul(tf.nn.softmax(scores, axis=-1), heads(v))
            return tf.reshape(tf.transpose(context, (0, 2, 1, 3)), (batch, length, q.shape[-1]))

        def get_config(self):
            return super().get_config() | {"num_heads": self.num_heads}

    class MaskedMean(layers.Layer):
        def call(self, inputs):
            x, mask = inputs
            keep = tf.cast(mask, x.dtype)[:, :, tf.newaxis]
            return tf.reduce_sum(x * keep, axis=1) / tf.maximum(tf.reduce_sum(keep, axis=1), 1.0)

    return {"PositionEmbedding": PositionEmbedding, "Attention": Attention, "MaskedMean": MaskedMean}


def build(lib, vocabulary_size, sequence_length, num_classes, num_layers=2, hidden_dim=128,
          num_heads=4, intermediate_dim=512, dropout=0.1):
    """The classifier as a Functional model of `lib` (`keras` or `tf_keras`)."""
    layers = lib.layers
    custom = custom_objects(lib)
    PositionEmbedding, Attention, MaskedMean = (
        custom[n] for n in ("PositionEmbedding", "Attention", "MaskedMean"))
    token_ids = lib.Input((sequence_length,), dtype="int32", name="token_ids")
    padding_mask = lib.Input((sequence_length,), dtype="int32", name="padding_mask")
    x = layers.Embedding(vocabulary_size, hidden_dim, name="token_embedding")(token_ids)
    x = PositionEmbedding(sequence_length, hidden_dim, name="position_embedding")(x)
    x = layers.LayerNormalization(epsilon=1e-6, name="embedding_norm")(x)
    x = layers.Dropout(dropout)(x)
    for i in range(num_layers):
        q, k, v = (layers.Dense(hidden_dim, name=f"block{i}_{n}")(x) for n in ("query", "key", "value"))
        a = Attention(num_heads, name=f"block{i}_attention")([q, k, v, padding_mask])
        a = layers.Dense(hidden_dim, name=f"block{i}_attention_output")(a)
        a = layers.Dropout(dropout)(a)
        x = layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_attention_norm")(
            layers.Add()([x, a]))
        f = layers.Dense(intermediate_dim, activation="gelu", name=f"block{i}_ffn_intermediate")(x)
        f = layers.Dense(hidden_dim, name=f"block{i}_ffn_output")(f)
        f = layers.Dropout(dropout)(f)
        x = layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_ffn_norm")(layers.Add()([x, f]))
    pooled = MaskedMean(name="pooling")([x, padding_mask])
    logits = layers.Dense(num_classes, name="classifier")(pooled)
    return lib.Model({"token_ids": token_ids, "padding_mask": padding_mask}, logits,
                     name="small_transformer")


def weights_dict(model):
    return {f"{layer.name}/{j}": np.asarray(w)
            for layer in model.layers for j, w in enumerate(layer.get_weights())}


def set_weights_dict(model, weights, name_of=lambda layer: layer.name):
    """Loads `weights_dict` output into `model`; `name_of` maps a (wrapped) layer to its name."""
    loaded = 0
    for layer in model.layers:
        name = name_of(layer)
        count = sum(1 for key in weights if key.rsplit("/", 1)[0] == name)
        if not count:
            continue
        current = layer.get_weights()
        values = [weights[f"{name}/{j}"] for j in range(count)]
        # A pruning wrapper adds its own variables after the layer's (mask, threshold, step).
        layer.set_weights(values + current[count:])
        loaded += count
    if loaded != len(weights):
        raise ValueError(f"loaded {loaded} of {len(weights)} weight arrays")


def training_order(num_examples, epochs, batch_size, seed):
    """Indices of every training example seen, epoch after epoch (reshuffled each epoch,
    the last partial batch dropped), so both sides get exactly the same batches."""
    rng = np.random.default_rng(seed)
    per_epoch = num_examples // batch_size * batch_size
    return np.concatenate([rng.permutation(num_examples)[:per_epoch] for _ in range(epochs)])


def kernel_sparsity(kernels):
    """Fraction of zeros over a list of kernels."""
    zeros = sum(int(np.sum(np.asarray(k) == 0)) for k in kernels)
    return zeros / max(sum(np.asarray(k).size for k in kernels), 1)


def distinct_values(kernels):
    """Number of distinct values in each kernel."""
    return [int(np.unique(np.asarray(k)).size) for k in kernels]


def tflite_bytes(model, sequence_length, optimize=True, inputs=("token_ids", "padding_mask")):
    """The model at batch 1 and `sequence_length` as TFLite bytes (`Optimize.DEFAULT` when
    `optimize`, no representative data), converted from a SavedModel of a `tf.function`
    over `model(inputs, training=False)`: the same code for a Keras 3 and a tf_keras model."""
    import tempfile

    import tensorflow as tf

    specs = {name: tf.TensorSpec((1, sequence_length), tf.int32, name=name) for name in inputs}
    function = tf.function(lambda inputs: {"logits": model(inputs, training=False)},
                           input_signature=[specs]).get_concrete_function()
    module = tf.Module()
    module.captured = list(function.variables)
    with tempfile.TemporaryDirectory() as directory:
        tf.saved_model.save(module, directory, signatures={"serving_default": function})
        converter = tf.lite.TFLiteConverter.from_saved_model(directory)
        if optimize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return converter.convert()


def run_tfmot(folder, log):
    """Runs `python -m benchmarks.tfmot_peer` on `folder`/spec.json in its own process (importing
    tfmot sets TF_USE_LEGACY_KERAS=1, which must not leak into the Keras 3 process).

    Returns the dict it wrote to `folder`/tfmot.json plus `seconds`; on failure it holds
    `error` (the last stderr line when the script wrote none) and stderr goes to
    `folder`/tfmot_stderr.txt.
    """
    import json
    import os
    import pathlib
    import shlex
    import subprocess
    import sys
    import time

    started = time.time()
    root = str(pathlib.Path(__file__).resolve().parents[1])  # where `benchmarks` is a package
    command = [sys.executable, "-m", "benchmarks.tfmot_peer", "--spec", str(folder / "spec.json")]
    log("tfmot side: " + shlex.join(command))
    paths = [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    completed = subprocess.run(command, capture_output=True, text=True,
                               env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)})
    for line in completed.stdout.splitlines():
        log(line)
    out = folder / "tfmot.json"
    tfmot = json.loads(out.read_text()) if out.is_file() else {}
    if completed.returncode != 0 and "error" not in tfmot:
        tfmot["error"] = (completed.stderr.strip().splitlines()
                          or [f"exit status {completed.returncode}"])[-1]
    if "error" in tfmot:
        log(f"tfmot failed: {tfmot['error']}")
        (folder / "tfmot_stderr.txt").write_text(completed.stderr)
    tfmot["seconds"] = round(time.time() - started, 1)
    return tfmot
