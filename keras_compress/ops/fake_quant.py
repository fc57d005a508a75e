"""Fake quantization (quantize, then dequantize) with straight-through gradients."""

import keras
from keras import ops

GRANULARITIES = ("per_channel", "per_tensor")


def fake_quant_weights(kernel, granularity="per_channel", num_bits=8, channel_axes=(-1,)):
    """Symmetric fake quantization of a kernel.

    The range of each output channel (or of the whole tensor) is
    `[-max|w|, max|w|]`, mapped onto `2**num_bits - 1` levels (the narrow,
    zero-centred int8 range -127..127). Gradients pass straight through.

    Args:
        kernel: the weight tensor.
        granularity: `"per_channel"` (one range per output channel) or
            `"per_tensor"` (one range for the whole tensor; the only one the
            TFLite converter folds into int8 `FULLY_CONNECTED` kernels).
        num_bits: bits per weight.
        channel_axes: the kernel axes that index output channels (for an
            `EinsumDense` kernel `(input, heads, head_dim)`: `(1, 2)`). Used
            with `"per_channel"` only.

    Example:

    >>> import numpy as np
    >>> w = np.array([[0.5, -2.0], [0.25, 1.0]], "float32")
    >>> q = fake_quant_weights(w, "per_tensor")
    >>> bool(np.abs(np.asarray(q) - w).max() <= 2.0 / 127)
    True
    """
    if granularity not in GRANULARITIES:
        raise ValueError(
            f"`weight_granularity` must be one of {GRANULARITIES}; received {granularity!r}."
        )
    kernel = ops.convert_to_tensor(kernel)
    if granularity == "per_tensor":
        bound = ops.stop_gradient(ops.maximum(ops.max(ops.abs(kernel)), 1e-8))
        return keras.quantizers.fake_quant_with_min_max_vars(
            kernel, -bound, bound, num_bits=num_bits, narrow_range=True
        )
    ndim = len(kernel.shape)
    channel_axes = sorted({axis % ndim for axis in channel_axes})
    other_axes = [axis for axis in range(ndim) if axis not in channel_axes]
    # Channels last and flattened: Keras's per-channel fake quant takes one axis.
    order = other_axes + channel_axes
    moved = ops.transpose(kernel, order) if order != list(range(ndim)) else kernel
    moved_shape = ops.shape(moved)
    flat = ops.reshape(moved, (-1, _prod(kernel.shape[a] for a in channel_axes)))
    bound = ops.stop_gradient(ops.maximum(ops.max(ops.abs(flat), axis=0), 1e-8))
    flat = keras.quantizers.fake_quant_with_min_max_vars(
        flat, -bound, bound, num_bits=num_bits, narrow_range=True, axis=-1
    )
    moved = ops.reshape(flat, moved_shape)
    if order == list(range(ndim)):
        return moved
    inverse = [order.index(axis) for axis in range(ndim)]
    return ops.transpose(moved, inverse)


def fake_quant_activations(x, min_value, max_value, num_bits=8):
    """Asymmetric per-tensor fake quantization to `[min_value, max_value]`.

    The range is widened to contain 0 so that zero (padding) is exact, as
    TFLite requires. Gradients pass straight through inside the range and
    are zero outside it.

    Example:

    >>> import numpy as np
    >>> x = np.array([-1.0, 0.0, 0.123, 5.0], "float32")
    >>> y = fake_quant_activations(x, -1.28, 1.27)  # step 0.01; 5.0 is clipped
    >>> [round(float(v), 3) for v in np.asarray(y)]
    [-1.0, 0.0, 0.12, 1.27]
    """
    min_value = ops.stop_gradient(ops.minimum(min_value, 0.0))
    max_value = ops.stop_gradient(ops.maximum(max_value, min_value + 1e-6))
    return keras.quantizers.fake_quant_with_min_max_vars(
        x, min_value, max_value, num_bits=num_bits, narrow_range=False
    )


def _prod(values):
    result = 1
    for value in values:
        result *= int(value)
    return result
