"""Physically removing pruned neurons from transformer feed-forward blocks.

A pruned FFN neuron j (a zero in the intermediate layer's `unit_mask`)
outputs exactly zero, so column j of the intermediate kernel (and bias j)
and row j of the output kernel can be cut without changing the outputs.
"""

import keras
import numpy as np

from keras_compress.layers import base
from keras_compress.surgery import structure


def neuron_replacements(model):
    """`{id(layer): fn() -> smaller plain Dense}` for every FFN block with pruned neurons."""
    replacements = {}
    for path, intermediate, output in structure.ffn_pairs(model):
        kept = np.flatnonzero(keras.ops.convert_to_numpy(intermediate.unit_mask))
        if kept.size == intermediate.units:
            continue
        if kept.size == 0:
            raise ValueError(
                f"strip: every neuron of '{path}/{intermediate.name}' is pruned; keep at "
                "least one (NeuronPruning min_neurons >= 1)."
            )
        replacements[id(intermediate)] = lambda layer, kept=kept: _keep_units(layer, kept)
        replacements[id(output)] = lambda layer, kept=kept: _keep_inputs(layer, kept)
    return replacements


def _plain_weights(layer):
    """Kernel and bias of a Dense-like layer with its compression baked in."""
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


def _keep_units(layer, kept):
    _check_dense(layer)
    kernel, bias = _plain_weights(layer)
    dense = _dense_like(layer, kept.size, _input_shape(layer))
    dense.set_weights([kernel[:, kept]] + ([] if bias is None else [bias[kept]]))
    return dense


def _keep_inputs(layer, kept):
    _check_dense(layer)
    kernel, bias = _plain_weights(layer)
    input_shape = _input_shape(layer)[:-1] + (int(kept.size),)
    dense = _dense_like(layer, kernel.shape[1], input_shape)
    dense.set_weights([kernel[kept]] + ([] if bias is None else [bias]))
    return dense


def _check_dense(layer):
    if not isinstance(layer, keras.layers.Dense):
        raise TypeError(
            f"strip: cannot cut neurons of '{layer.name}', a {type(layer).__name__}; only "
            "Dense and MaskedDense feed-forward layers can shrink."
        )
