"""Cutting attention heads and feed-forward neurons out of weight matrices.

The one place where structure is removed from matrices: `strip` uses it for
pruned heads and neurons, `make_student` for narrower students. Each function
returns new, built plain Keras layers computing the kept heads or neurons
exactly as the source did; the source is not modified.
"""

import keras
import numpy as np

from keras_compress.layers import base
from keras_compress.layers.prunable_attention import PROJECTIONS


def keep_heads(attention, kept):
    """A plain `MultiHeadAttention` holding only the heads `kept` of `attention`.

    Query, key and value kernels `(input, heads, head_dim)` and biases
    `(heads, head_dim)` keep the columns of the kept heads; the output kernel
    `(heads, head_dim, output)` keeps their rows. Heads keep their size.

    Args:
        attention: a built `keras.layers.MultiHeadAttention` with plain
            projections (call `to_plain()` on compression layers first).
        kept: indices of the heads to keep (at least one).

    Example:

    >>> import numpy as np, keras
    >>> from keras_compress.surgery.slicing import keep_heads
    >>> layer = keras.layers.MultiHeadAttention(num_heads=4, key_dim=2)
    >>> x = np.random.rand(1, 3, 8).astype("float32")
    >>> _ = layer(x, x)
    >>> smaller = keep_heads(layer, [0, 2])
    >>> smaller.num_heads, smaller.key_dim
    (2, 2)
    """
    kept = _indices(kept, attention.num_heads, "keep_heads", f"attention '{attention.name}'",
                    "head")
    config = base.plain_config(attention, keras.layers.MultiHeadAttention)
    config["num_heads"] = int(kept.size)
    sliced = keras.layers.MultiHeadAttention.from_config(config)
    base.build_like(sliced, attention)
    for name in PROJECTIONS:
        weights = getattr(attention, name).get_weights()
        if name == "_output_dense":
            weights = [weights[0][kept]] + weights[1:]
        else:
            weights = [weights[0][:, kept]] + [bias[kept] for bias in weights[1:]]
        getattr(sliced, name).set_weights(weights)
    return sliced


def keep_neurons(intermediate, output, kept):
    """`(intermediate, output)` plain `Dense` layers holding only the neurons `kept`.

    The intermediate layer keeps kernel columns and bias entries `kept`; the
    output layer keeps the matching kernel rows (and its whole bias).

    Example:

    >>> import numpy as np, keras
    >>> from keras_compress.surgery.slicing import keep_neurons
    >>> up, down = keras.layers.Dense(6, activation="relu"), keras.layers.Dense(4)
    >>> _ = down(up(np.ones((1, 4), "float32")))
    >>> up2, down2 = keep_neurons(up, down, [1, 3, 5])
    >>> tuple(up2.kernel.shape), tuple(down2.kernel.shape)
    ((4, 3), (3, 4))
    """
    return keep_units(intermediate, kept), keep_inputs(output, kept)


def keep_units(dense, kept):
    """A plain `Dense` with only the output units `kept` of `dense`."""
    kernel, bias = _dense_weights(dense)
    kept = _indices(kept, kernel.shape[-1], "keep_units", f"layer '{dense.name}'", "unit")
    sliced = _dense_like(dense, kept.size, _input_shape(dense))
    sliced.set_weights([kernel[:, kept]] + ([] if bias is None else [bias[kept]]))
    return sliced


def keep_inputs(dense, kept):
    """A plain `Dense` reading only the input features `kept` of `dense`."""
    kernel, bias = _dense_weights(dense)
    kept = _indices(kept, kernel.shape[0], "keep_inputs", f"layer '{dense.name}'", "input")
    sliced = _dense_like(dense, kernel.shape[1], _input_shape(dense)[:-1] + (int(kept.size),))
    sliced.set_weights([kernel[kept]] + ([] if bias is None else [bias]))
    return sliced


def _indices(kept, size, function, owner, what):
    kept = np.asarray(kept, dtype=np.int64).reshape(-1)
    if kept.size == 0:
        raise ValueError(f"{function}: every {what} of {owner} would be removed; keep at least one.")
    if kept.min() < 0 or kept.max() >= size or np.unique(kept).size != kept.size:
        raise ValueError(
            f"{function}: `kept` must be distinct {what} indices from 0 to {size - 1} of "
            f"{owner}; received {kept.tolist()}."
        )
    return kept


def _dense_weights(layer):
    """Kernel and bias of a Dense-like layer with its compression baked in."""
    if not isinstance(layer, keras.layers.Dense):
        raise TypeError(
            f"slicing: cannot cut neurons of '{layer.name}', a {type(layer).__name__}; only "
            "Dense and MaskedDense feed-forward layers can shrink."
        )
    plain = layer.to_plain() if isinstance(layer, base.CompressedLayer) else layer
    bias = None if plain.bias is None else keras.ops.convert_to_numpy(plain.bias)
    return keras.ops.convert_to_numpy(plain.kernel), bias


def _dense_like(layer, units, input_shape):
    config = base.plain_config(layer, keras.layers.Dense)
    config["units"] = int(units)
    dense = keras.layers.Dense.from_config(config)
    dense.build(input_shape)
    return dense


def _input_shape(layer):
    build_config = layer.get_build_config() or {}
    shape = build_config.get("input_shape")
    return tuple(shape) if shape else (None, layer.kernel.shape[0])
