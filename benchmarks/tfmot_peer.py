"""The tfmot side of the pruning peer: `prune_low_magnitude` on the small transformer in tf_keras.

Called by `benchmarks/pruning.py` in its own process (importing tfmot sets
TF_USE_LEGACY_KERAS=1, which must not leak into the Keras 3 process):

    .venv/bin/python benchmarks/tfmot_peer.py --spec runs/pruning/sara/peer/spec.json

The spec (written by pruning.py) names the token-id arrays, the initial weights per seed,
the training order, the optimizer and the pruning schedule; both sides read the same spec.
Writes `{"runs": [{"seed", "sparsity", "predicted", "kernel_sparsity", "seconds"}]}` to the
spec's `tfmot_out`, or `{"error": "..."}` with the exact error if tfmot cannot run here.
Macro-F1 is computed by pruning.py with keras_compress.metrics, the same code for both sides.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import json
import pathlib
import sys
import time
import traceback

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _peer_model  # noqa: E402


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


if __name__ == "__main__":
    main()
