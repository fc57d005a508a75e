"""`summary`: what is compressed in a model, layer by layer."""

import keras

from keras_compress import checks
from keras_compress.layers.base import CompressedLayer, weight_count
from keras_compress.surgery import tree

COLUMNS = ("layer", "type", "kind", "params", "sparsity", "neurons", "heads", "clusters/bits")


def summary(model, print_fn=print):
    """Prints a table of the compression layers in `model` and returns its rows.

    One row per `keras_compress` layer: its path, type, kind of compression,
    parameter count, weight sparsity, neurons kept, heads kept, and clusters
    or bits. The last line totals the model's parameters.

    Example:

    >>> import keras, keras_compress
    >>> from keras_compress.layers import MaskedDense
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> _ = keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense},
    ...                                include_classifier=True)
    >>> rows = keras_compress.summary(model, print_fn=lambda line: None)
    >>> rows[0]["kind"], rows[0]["sparsity"]
    ('masked', '0.0%')
    """
    checks.check_type("model", model, keras.layers.Layer, "a keras.Model (or layer)", "summary")
    rows = []
    for path, _, layer in tree.walk(model):
        if not isinstance(layer, CompressedLayer):
            continue
        info = layer.compression_info()
        sparsity = info.get("weight_sparsity")
        rows.append(
            {
                "layer": "/".join(path),
                "type": type(layer).__name__,
                "kind": info["kind"],
                "params": info["params"],
                "sparsity": "" if sparsity is None else f"{100 * sparsity:.1f}%",
                "neurons": info.get("neurons_kept", ""),
                "heads": info.get("heads_kept", ""),
                "clusters/bits": str(info.get("clusters", info.get("bits", ""))),
            }
        )
    _print_table(model, rows, print_fn)
    return rows


def _print_table(model, rows, print_fn):
    cells = [COLUMNS] + [tuple(str(row[c]) for c in COLUMNS) for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    print_fn(f'Compression summary: "{model.name}"')
    print_fn(rule)
    for i, line in enumerate(cells):
        print_fn("  ".join(cell.ljust(width) for cell, width in zip(line, widths)))
        if i == 0:
            print_fn(rule)
    print_fn(rule)
    print_fn(
        f"{len(rows)} compression layers; total params: {weight_count(model):,} "
        "(masks and quantization ranges not counted)"
    )
