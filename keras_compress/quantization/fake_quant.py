"""Fake quantization (quantize, then dequantize) with straight-through gradients."""

import keras
from keras import ops

GRANULARITIES = ("per_channel", "per_tensor")


def fake_quant_weights(kernel, granularity="per_channel", num_bits=8):
    """Symmetric fake quantization of a kernel whose last axis is output channels.

    The range of each output channel (or of the whole tensor) is
    `[-max|w|, max|w|]`, mapped onto `2**num_bits - 1` levels (the narrow,
    zero-centred int8 range -127..127). Gradients pass straight through.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(
            f"`weight_granularity` must be one of {GRANULARITIES}; received {granularity!r}."
        )
    kernel = ops.convert_to_tensor(kernel)
    if granularity == "per_channel":
        reduce_axes = tuple(range(kernel.ndim - 1))
        bound = ops.max(ops.abs(kernel), axis=reduce_axes)
        axis = -1
    else:
        bound = ops.max(ops.abs(kernel))
        axis = None
    bound = ops.stop_gradient(ops.maximum(bound, 1e-8))
    return keras.quantizers.fake_quant_with_min_max_vars(
        kernel, -bound, bound, num_bits=num_bits, narrow_range=True, axis=axis
    )


def fake_quant_activations(x, min_value, max_value, num_bits=8):
    """Asymmetric per-tensor fake quantization to `[min_value, max_value]`.

    The range is widened to contain 0 so that zero (padding) is exact, as
    TFLite requires. Gradients pass straight through inside the range and
    are zero outside it.
    """
    min_value = ops.stop_gradient(ops.minimum(min_value, 0.0))
    max_value = ops.stop_gradient(ops.maximum(max_value, min_value + 1e-6))
    return keras.quantizers.fake_quant_with_min_max_vars(
        x, min_value, max_value, num_bits=num_bits, narrow_range=False
    )
