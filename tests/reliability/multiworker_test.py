"""Pruning and QAT callbacks under tf.distribute.MultiWorkerMirroredStrategy, two local workers.

Two worker processes (TF_CONFIG on 127.0.0.1) train a tiny random BERT classifier
with `MagnitudePruning`, `HeadPruning` and `QATToggle`; a third process trains the
same model on one worker with two replicas (MirroredStrategy on 2 logical CPUs), so
the global batch and its split over replicas are the same. Each worker scores heads
on its own batch, the single worker on both: the workers agree only because the
callbacks average their scores over the replicas. Each process writes its final
masks, gates, QAT ranges and kernels to an `.npz`; the test compares them.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np, tensorflow as tf
    mode, out = sys.argv[1], sys.argv[2]
    if mode == "single":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
    import keras, keras_hub, keras_compress
    from keras_compress.callbacks import HeadPruning, MagnitudePruning, QATToggle
    from keras_compress.layers import (MaskedDense, MaskedEinsumDense, PrunableAttention,
                                       QuantizedDense)
    from keras_compress.pruning import ConstantSparsity
    from keras_compress.surgery import tree

    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(1, 100, (32, 8)).astype("int32"),
         "segment_ids": np.zeros((32, 8), "int32"), "padding_mask": np.ones((32, 8), "int32")}
    y = rng.integers(0, 3, 32)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).with_options(options)
    # Each worker scores heads on its own batch; the single worker on both (the mean of
    # the two batches' scores, as the workers' all-reduced scores).
    def rows(start):
        return ({k: v[start:start + 8] for k, v in x.items()}, y[start:start + 8])

    index = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("index", 0)
    score = [rows(0), rows(8)] if mode == "single" else rows(8 * index)
    with strategy.scope():
        keras.utils.set_random_seed(0)
        backbone = keras_hub.models.BertBackbone(vocabulary_size=100, num_layers=2,
            num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=16)
        model = keras_hub.models.BertTextClassifier(backbone, num_classes=3, preprocessor=None)
        # QAT on the feed-forward output layers, pruning everywhere else.
        keras_compress.swap_layers(model, {keras.layers.Dense: QuantizedDense},
                                   include="feedforward_output")
        keras_compress.swap_layers(model, {
            keras.layers.MultiHeadAttention: PrunableAttention,
            keras.layers.EinsumDense: MaskedEinsumDense,
            keras.layers.Dense: MaskedDense,
        })
        model.compile(optimizer="adam",
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    # Two Keras 3.15 bugs make fit() fail under MultiWorkerMirroredStrategy before any
    # of our code runs; the worker works around them (docs/reliability.md):
    # 1. keras-team/keras#20329: fit() builds the model from `strategy.reduce` of the
    #    whole batch, which refuses a dict of inputs (every keras-hub model). Build from
    #    this worker's first replica's shard instead.
    # 2. tensorflow/tensorflow#72388: fit() reduces its scalar logs with
    #    `strategy.reduce("MEAN", v, axis=0)`, which fails on scalars. Reduce the logs on
    #    each worker (only the logs: weights are all-reduced by the strategy as usual).
    def symbolic_build(iterator=None, data_batch=None):
        for _, _, batches in iterator:
            data_batch = tf.nest.map_structure(
                lambda v: strategy.experimental_local_results(v)[0], next(batches))
            break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    if mode == "worker":
        model._maybe_symbolic_build = symbolic_build
        from keras.src.backend.tensorflow import trainer as tf_trainer
        tf_trainer._collective_all_reduce_multi_worker = lambda strategy: False
    callbacks = [MagnitudePruning(ConstantSparsity(0.5, 0, frequency=2)),
                 HeadPruning(ConstantSparsity(0.25, 3, frequency=100), data=score),
                 QATToggle(start_step=2, freeze_ranges_after=3)]
    history = model.fit(train, epochs=2, verbose=0, callbacks=callbacks)
    values = {"history/" + k: np.asarray(v, "float64") for k, v in history.history.items()
              if k != "loss"}
    for path, _, layer in tree.walk(model):
        for v in layer._trainable_variables + layer._non_trainable_variables:
            values["/".join(path + (v.name,))] = keras.ops.convert_to_numpy(v)
    np.savez(out, **values)
    print("done", mode, len(values))
    """
)

MASKS = ("kernel_mask", "unit_mask", "head_mask", "quantization_enabled", "ranges_frozen")
RANGES = ("input_min", "input_max", "output_min", "output_max")
NAMES = MASKS + RANGES


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start(mode, out, tmp_path, tf_config=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, mode, str(out)], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _finish(processes, timeout):
    outputs = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=timeout)
            outputs.append((process.returncode, stdout, stderr))
    finally:
        for process in processes:  # a hung collective: never leave a worker behind
            if process.poll() is None:
                process.kill()
                process.communicate()
    return outputs


def test_two_workers_end_with_identical_masks_gates_and_ranges(tmp_path):
    hosts = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    outs = [tmp_path / f"worker{i}.npz" for i in range(2)] + [tmp_path / "single.npz"]
    processes = [
        _start("worker", outs[i], tmp_path,
               {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}})
        for i in range(2)
    ] + [_start("single", outs[2], tmp_path)]
    for returncode, stdout, stderr in _finish(processes, timeout=240):
        assert returncode == 0, stdout[-2000:] + stderr[-4000:]
    worker0, worker1, single = (dict(np.load(out)) for out in outs)

    checked = {name: 0 for name in NAMES}
    assert set(worker0) == set(worker1) == set(single)
    for key in sorted(worker0):  # first: the two workers agree
        np.testing.assert_array_equal(worker0[key], worker1[key], err_msg=key)
    for key in sorted(worker0):  # then: they did what one worker does
        name = key.rsplit("/", 1)[-1]
        if name in MASKS:
            checked[name] += 1
            np.testing.assert_array_equal(worker0[key], single[key], err_msg=key)
        elif name in RANGES:
            checked[name] += 1
            np.testing.assert_allclose(worker0[key], single[key], rtol=1e-6, err_msg=key)
        elif not key.startswith("history/"):  # trained weights: same up to summation order
            np.testing.assert_allclose(worker0[key], single[key], rtol=1e-3, atol=1e-4,
                                       err_msg=key)
    assert all(checked.values()), checked

    # The run compressed something, so equal results are not equal no-ops.
    history = {k.split("/", 1)[1]: v for k, v in worker0.items() if k.startswith("history/")}
    assert abs(history["sparsity"][-1] - 0.5) < 0.01, history
    assert history["heads_kept"][-1] == 3, history  # 4 heads, 25% removed
    assert history["quantized"][-1] == 1.0 and history["ranges_frozen"][-1] == 1.0, history
    ranges = [v for k, v in worker0.items() if k.endswith("/input_max")]
    assert all(r > 0 for r in ranges), ranges
