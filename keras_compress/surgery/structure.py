"""Where a model's prunable structures are: attention heads and FFN neurons."""

from keras_compress.layers import MaskedDense, PrunableAttention
from keras_compress.surgery import tree


def attention_layers(model):
    """`[(path, PrunableAttention)]` in model order."""
    return [
        ("/".join(path), layer)
        for path, _, layer in tree.walk(model)
        if isinstance(layer, PrunableAttention)
    ]


def ffn_pairs(model):
    """`[(path, intermediate, output)]` for each transformer feed-forward block.

    A block is a layer holding `_feedforward_intermediate_dense` and
    `_feedforward_output_dense` (keras-hub's `TransformerEncoder` and
    `TransformerDecoder`) whose intermediate layer is a `MaskedDense`:
    removing intermediate unit j removes row j of the output layer's kernel.
    """
    pairs = []
    for path, _, layer in tree.walk(model):
        intermediate = getattr(layer, "_feedforward_intermediate_dense", None)
        output = getattr(layer, "_feedforward_output_dense", None)
        if isinstance(intermediate, MaskedDense) and output is not None:
            pairs.append(("/".join(path), intermediate, output))
    return pairs


def consumers(model):
    """`{id(intermediate): output}`: the layer reading each FFN intermediate layer."""
    return {id(intermediate): output for _, intermediate, output in ffn_pairs(model)}
