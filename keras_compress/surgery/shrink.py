"""Physically removing pruned neurons from transformer feed-forward blocks.

A pruned FFN neuron j (a zero in the intermediate layer's `unit_mask`)
outputs exactly zero, so column j of the intermediate kernel (and bias j)
and row j of the output kernel can be cut without changing the outputs.
"""

import keras
import numpy as np

from keras_compress.surgery import slicing, structure


def neuron_replacements(model):
    """`{id(layer): fn(layer) -> smaller plain Dense}` for every FFN block with pruned neurons."""
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
        replacements[id(intermediate)] = lambda layer, kept=kept: slicing.keep_units(layer, kept)
        replacements[id(output)] = lambda layer, kept=kept: slicing.keep_inputs(layer, kept)
    return replacements
