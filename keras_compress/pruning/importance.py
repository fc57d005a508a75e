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


def head_norms(attention):
    """L2 norm of each head's slice of the attention output kernel: a data-free head score."""
    kernel = keras.ops.convert_to_numpy(attention._output_dense.kernel)  # (heads, head_dim, out)
    return np.linalg.norm(kernel.reshape(kernel.shape[0], -1), axis=1)


def structure_scores(model, heads=(), neurons=(), data=None, num_batches=8):
    """`(head scores, neuron scores)`: one array per attention layer and per FFN layer.

    The one importance interface of the package (the pruning callbacks and
    `make_student` use it). With `data`, the scores are `|dLoss/d gate|`
    (`gate_gradients`, one pass over `data` for all layers): `heads` must be
    `PrunableAttention` layers and `neurons` `MaskedDense` layers of the
    compiled `model`. Without `data`, they are weight norms (`head_norms`,
    `weight_norms`) and any `MultiHeadAttention` / `Dense` layers do.

    >>> import numpy as np, keras
    >>> dense = keras.layers.Dense(3)
    >>> _ = dense(np.ones((1, 2), "float32"))
    >>> _ = dense.kernel.assign([[0.0, 3.0, 1.0], [0.0, 4.0, 0.0]])
    >>> structure_scores(None, neurons=[dense])[1][0].tolist()
    [0.0, 5.0, 1.0]
    """
    heads, neurons = list(heads), list(neurons)
    if data is None:
        return [head_norms(a) for a in heads], [weight_norms(d) for d in neurons]
    gates = [a.head_mask for a in heads] + [d.unit_mask for d in neurons]
    scores = gate_gradients(model, data, gates, num_batches)
    return scores[: len(heads)], scores[len(heads):]


def head_scores(model, layers, data=None, num_batches=8):
    """Importance of each head of `layers` (see `structure_scores`)."""
    return structure_scores(model, heads=layers, data=data, num_batches=num_batches)[0]


def neuron_scores(model, layers, data=None, num_batches=8):
    """Importance of each output neuron of `layers` (see `structure_scores`)."""
    return structure_scores(model, neurons=layers, data=data, num_batches=num_batches)[1]


def top_k(score, k):
    """Indices of the `k` highest scores, in increasing index order (ties: lower index).

    >>> top_k([0.1, 0.9, 0.5, 0.9], 2).tolist()
    [1, 3]
    """
    order = np.argsort(-np.asarray(score, np.float64), kind="stable")
    return np.sort(order[: int(k)])


def rank_and_mask(scores, masks, sparsity, granularity, min_kept):
    """New 0/1 masks removing the lowest scores until `sparsity` of all units is removed.

    Units already removed stay removed; every mask keeps at least `min_kept`
    units. With `granularity="global"` scores are L2-normalised per layer and
    ranked together; with `"layer"` each mask reaches the sparsity itself.
    """
    masks = [np.asarray(m, np.float32).copy() for m in masks]
    if granularity == "layer":
        return [
            _remove_lowest([s], [m], sparsity, min_kept)[0] for s, m in zip(scores, masks)
        ]
    normalised = []
    for score in scores:
        norm = np.linalg.norm(score)
        normalised.append(score / norm if norm > 0 else score)
    return _remove_lowest(normalised, masks, sparsity, min_kept)


def _remove_lowest(scores, masks, sparsity, min_kept):
    total = sum(m.size for m in masks)
    to_remove = int(round(sparsity * total)) - sum(int(np.sum(m == 0)) for m in masks)
    candidates = sorted(
        (float(score[i]), layer, i)
        for layer, (score, mask) in enumerate(zip(scores, masks))
        for i in range(mask.size)
        if mask[i] != 0
    )
    kept = [int(np.sum(m != 0)) for m in masks]
    for _, layer, i in candidates:
        if to_remove <= 0:
            break
        if kept[layer] <= min_kept:
            continue
        masks[layer][i] = 0.0
        kept[layer] -= 1
        to_remove -= 1
    return masks
