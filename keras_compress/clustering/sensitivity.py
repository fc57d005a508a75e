"""`sensitivity`: macro-F1 of a classifier with each layer group clustered to k values."""

import copy
import time
import warnings

import keras
import numpy as np

from keras_compress import metrics
from keras_compress.clustering import targets
from keras_compress.ops.kmeans import INITS, kmeans_1d
from keras_compress.surgery import swap


def sensitivity(model, data, clusters=(2, 4, 16, 256), groups=("encoder", "embeddings"), *,
                fine_tune=None, init="kmeans++", seed=0, batch_size=64, print_fn=print):
    """How much accuracy each layer group loses when its weights share k values.

    For every group and every cluster count, each weight matrix of the group
    is replaced by its k-means clustered version (k values per matrix; a
    matrix with fewer than k weights keeps its own values) and
    the classifier is scored on `data`; the float model is scored first.
    Post-training (no retraining) by default: `model` is modified while a
    setting is scored and restored afterwards. With `fine_tune`, each
    setting is also scored after a short recovery fine-tune of a copy of the
    model whose group layers are k-means layers (centroids trainable,
    assignments fixed); `model` itself is not trained.

    Args:
        model: a built classifier whose `predict(x)` gives class scores.
        data: `(x, y)`: inputs `model.predict` accepts (texts for a keras-hub
            classifier with a preprocessor, or arrays) and integer labels.
        clusters: cluster counts per matrix, each in [2, 256].
        groups: names from `("encoder", "embeddings", "pooler", "all")` or
            regexes on layer paths (see `keras_compress.clustering.group_layers`).
            The classifier head is never clustered.
        fine_tune: `None`, or a function `fine_tune(clustered_model)` that
            compiles and trains the given copy in place, e.g.
            `lambda m: (m.compile(...), m.fit(train, steps_per_epoch=50))`.
        init: k-means initialisation, `"kmeans++"` or `"linear"`.
        seed: seed for `"kmeans++"`.
        batch_size: prediction batch size.
        print_fn: prints the table; `None` prints nothing.

    Returns:
        A list of rows (dicts): `group`, `clusters`, `layers` (matrices
        clustered), `weights` (values clustered), `macro_f1`, `accuracy`,
        `macro_f1_delta` (versus float) and, with `fine_tune`,
        `macro_f1_fine_tuned`, `accuracy_fine_tuned`. The first row is the
        float model (`group="float"`, `clusters=None`); with `fine_tune`, its
        fine-tuned columns are the control: an unclustered copy trained by the
        same function (a short fine-tune alone changes macro-F1).

    Example:

    >>> import keras, numpy as np
    >>> from keras_compress.clustering import sensitivity
    >>> keras.utils.set_random_seed(0)
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="relu"),
    ...                           keras.layers.Dense(3)])
    >>> x = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    >>> y = np.argmax(model.predict(x, verbose=0), axis=-1)
    >>> rows = sensitivity(model, (x, y), clusters=(2, 256), groups=("all",), print_fn=None)
    >>> [(row["group"], row["clusters"], row["macro_f1"] > 0.9) for row in rows]
    [('float', None, True), ('all', 2, False), ('all', 256, True)]
    """
    x, y = _check_data(data)
    for n in clusters:
        targets.check_n_clusters(n, "sensitivity: every entry of `clusters`")
    if init not in INITS:
        raise ValueError(f"sensitivity: `init` must be one of {INITS}; received {init!r}.")
    if fine_tune is not None and not callable(fine_tune):
        raise TypeError(
            "sensitivity: `fine_tune` must be None or a function fine_tune(model) that trains "
            f"the clustered copy; received {type(fine_tune).__name__}."
        )
    if isinstance(groups, str):
        groups = (groups,)
    selections = {}
    for group in groups:
        selections[group] = targets.group_layers(model, group)
        if not selections[group]:
            raise ValueError(
                f"sensitivity: group {group!r} matches no clusterable layer (Dense, EinsumDense, "
                f"embedding) of model '{model.name}'; named groups: {targets.GROUPS}, any other "
                "string is a regex on layer paths."
            )

    float_score = _score(model, x, y, batch_size)
    rows = [{"group": "float", "clusters": None, "layers": 0, "weights": 0, **float_score,
             "macro_f1_delta": 0.0}]
    if fine_tune is not None:  # the control: the same fine-tune without clustering
        rows[0].update(_with_fine_tune(model, [], None, init, seed, x, y, batch_size, fine_tune))
    for group, selected in selections.items():
        weights = sum(int(np.prod(targets.weight_variable(layer).shape)) for _, layer in selected)
        for n in clusters:
            started = time.perf_counter()
            row = {"group": group, "clusters": n, "layers": len(selected), "weights": weights}
            if fine_tune is None:
                row.update(_post_training(model, selected, n, init, seed, x, y, batch_size))
            else:
                row.update(_with_fine_tune(model, selected, n, init, seed, x, y, batch_size,
                                           fine_tune))
            row["macro_f1_delta"] = row["macro_f1"] - float_score["macro_f1"]
            row["seconds"] = time.perf_counter() - started
            rows.append(row)
    if print_fn is not None:
        _print_table(rows, fine_tune is not None, print_fn)
    return rows


def _check_data(data):
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(
            "sensitivity: `data` must be a pair (x, y) of model inputs and integer labels; "
            f"received {type(data).__name__}."
        )
    x, y = data
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"sensitivity: the labels in `data` must be a 1-D integer array; received shape "
            f"{y.shape} and dtype {y.dtype}."
        )
    return x, y


def _score(model, x, y, batch_size):
    predicted = np.argmax(model.predict(x, batch_size=batch_size, verbose=0), axis=-1)
    return {"macro_f1": metrics.macro_f1(y, predicted), "accuracy": metrics.accuracy(y, predicted)}


def _post_training(model, selected, n, init, seed, x, y, batch_size):
    variables = [targets.weight_variable(layer) for _, layer in selected]
    originals = [np.array(keras.ops.convert_to_numpy(variable)) for variable in variables]
    try:
        for variable, value in zip(variables, originals):
            centroids, assignments = kmeans_1d(value, min(n, value.size), init=init, seed=seed)
            variable.assign(centroids[assignments].astype(value.dtype))
        return _score(model, x, y, batch_size)
    finally:
        for variable, value in zip(variables, originals):
            variable.assign(value)


def _with_fine_tune(model, selected, n, init, seed, x, y, batch_size, fine_tune):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*compile.*")
        warnings.filterwarnings("ignore", message=".*optimizer.*")
        clone = copy.deepcopy(model)
    sizes = {path: int(np.prod(targets.weight_variable(layer).shape)) for path, layer in selected}

    def policy(layer, path):
        if path not in sizes:
            return None
        return targets.clustering_policy(min(n, sizes[path]), init=init, seed=seed)(layer, path)

    if sizes:
        swap.swap_layers(clone, policy, include_embeddings=True)
    before = _score(clone, x, y, batch_size)
    fine_tune(clone)
    after = _score(clone, x, y, batch_size)
    return {**before, "macro_f1_fine_tuned": after["macro_f1"],
            "accuracy_fine_tuned": after["accuracy"]}


def _print_table(rows, fine_tuned, print_fn):
    columns = ["group", "clusters", "layers", "weights", "macro_f1", "macro_f1_delta", "accuracy"]
    if fine_tuned:
        columns += ["macro_f1_fine_tuned", "accuracy_fine_tuned"]

    def cell(value):
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:+.4f}" if value < 0 else f"{value:.4f}"
        return str(value)

    cells = [columns] + [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    print_fn("Clustering sensitivity (macro-F1 per group and clusters per matrix)")
    for i, line in enumerate(cells):
        print_fn("  ".join(value.ljust(width) for value, width in zip(line, widths)))
        if i == 0:
            print_fn("  ".join("-" * width for width in widths))
