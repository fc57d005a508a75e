"""Importance scores for pruning: one interface, gradients of gates or weight norms.

`gate_gradients` is the first-order Taylor criterion for any gate variable
that multiplies a structure's output (`PrunableAttention.head_mask`,
`MaskedDense.unit_mask`): with `out = f(x) * gate`, `dLoss/dgate_j` summed
over a batch equals `sum(activation_j * dLoss/dactivation_j)`, the criterion
of Molchanov et al. (2016) for neurons and of Michel et al. (2019) for heads.
"""

import warnings

import keras
import numpy as np
import tensorflow as tf


def batches(data, num_batches):
    """Yields up to `num_batches` batches from a `tf.data.Dataset`, an iterable
    of batches, or a single `(x, y)` / `(x, y, sample_weight)` tuple."""
    if isinstance(data, tuple):
        data = [data]
    for i, batch in enumerate(data):
        if num_batches is not None and i >= num_batches:
            return
        yield batch


def _preprocessed(model, batch):
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
    preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is not None:
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(
            preprocessor(x, y, sample_weight)
        )
    if y is None:
        raise ValueError(
            "Importance: a batch of `data` has no labels; gradient scoring needs the loss, so "
            "`data` must yield (x, y) or (x, y, sample_weight) batches; received a batch of "
            f"{type(batch).__name__}."
        )
    return x, y, sample_weight


def gate_gradients(model, data, gates, num_batches=8):
    """Mean over batches of `|dLoss/d gate|`, one NumPy array per gate variable.

    The loss is the model's compiled loss, so `model` must be compiled. A
    batch whose gradients are not finite is skipped with a warning; if no
    batch is usable, a `ValueError` is raised.
    """
    # `compiled` rather than a loss: keras.distillation.Distiller compiles with
    # loss=None and computes its own loss in `compute_loss`.
    if not getattr(model, "compiled", False):
        raise ValueError(
            f"Model '{model.name}' is not compiled: gradient importance needs its loss. "
            "Call `model.compile(...)` first."
        )
    totals = [np.zeros(gate.shape, np.float64) for gate in gates]
    used = skipped = 0
    for batch in batches(data, num_batches):
        x, y, sample_weight = _preprocessed(model, batch)
        with tf.GradientTape() as tape:
            for gate in gates:
                tape.watch(gate.value)
            y_pred = model(x, training=False)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                      training=False)
        grads = tape.gradient(loss, [gate.value for gate in gates])
        grads = [np.zeros(g.shape) if d is None else np.abs(d.numpy()) for g, d in zip(gates, grads)]
        if not all(np.all(np.isfinite(g)) for g in grads):
            skipped += 1
            continue
        for total, grad in zip(totals, grads):
            total += grad
        used += 1
    if skipped:
        warnings.warn(
            f"Importance: skipped {skipped} batch(es) with NaN or Inf gradients.", stacklevel=2
        )
    if used == 0:
        raise ValueError("Importance: no usable batch in `data` (empty, or all non-finite).")
    return [total / used for total in totals]


def replica_mean(model, arrays):
    """The mean of `arrays` over the replicas of `model`'s `tf.distribute` strategy.

    Under `MultiWorkerMirroredStrategy` each worker scores on its own copy of
    `data`; averaging over the replicas (an all-reduce, which every worker
    joins at the same pruning step) gives all workers the same scores, hence
    the same masks, even if their `data` differ. With one replica (no
    strategy) `arrays` are returned unchanged.
    """
    strategy = getattr(model, "distribute_strategy", None)
    if strategy is None or strategy.num_replicas_in_sync == 1:
        return arrays

    def mean(*values):
        return tf.distribute.get_replica_context().all_reduce("MEAN", list(values))

    reduced = strategy.run(mean, args=tuple(tf.constant(a) for a in arrays))
    return [np.asarray(strategy.experimental_local_results(r)[0]) for r in reduced]


def weight_norms(dense):
    """L2 norm of each output unit's kernel column: a data-free neuron score."""
    kernel = keras.ops.convert_to_numpy(dense.kernel)
    return np.linalg.norm(kernel.reshape(-1, kernel.shape[-1]), axis=0)
