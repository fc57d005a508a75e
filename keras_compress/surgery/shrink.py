"""Physically removing pruned neurons from transformer feed-forward blocks.

A pruned FFN neuron j (a zero in the intermediate layer's `unit_mask`)
outputs exactly zero, so column j of the intermediate kernel (and bias j)
and row j of the output kernel can be cut without changing the outputs.
"""

import keras
import numpy as np

from keras_compress.surgery import slicing, structure


def neuron_replacements(model):
    """`{id(layer): fn(layer) -> smaller plain Dense}` for every FFN block with pruned neurons.

    A layer can be the output of one pair and the intermediate of the next
    (a Sequential MLP): it then loses both input rows and output units.
    """
    units, inputs, layers = {}, {}, {}
    for path, intermediate, output in structure.ffn_pairs(model):
        kept = np.flatnonzero(keras.ops.convert_to_numpy(intermediate.unit_mask))
        if kept.size == intermediate.units:
            continue
        if kept.size == 0:
            raise ValueError(
                f"strip: every neuron of '{path}/{intermediate.name}' is pruned; keep at "
                "least one (NeuronPruning min_neurons >= 1)."
            )
        units[id(intermediate)] = kept
        inputs[id(output)] = kept
        layers[id(intermediate)], layers[id(output)] = intermediate, output
    return {key: _shrinker(units.get(key), inputs.get(key)) for key in layers}


def _shrinker(kept_units, kept_inputs):
    def shrink(layer):
        if kept_units is not None:
            layer = slicing.keep_units(layer, kept_units)
        if kept_inputs is not None:
            layer = slicing.keep_inputs(layer, kept_inputs)
        return layer

    return shrink
