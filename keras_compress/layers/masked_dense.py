"""`MaskedDense`: a Dense layer whose weights and output units can be pruned."""

import contextlib

import keras
from keras import ops

from keras_compress.layers import base


class MaskConstraint(keras.constraints.Constraint):
    """Re-applies a layer's masks after each optimizer step, then `inner`.

    Gradients of masked weights are already zero, but optimizer state built
    before pruning (Adam moments, weight decay) would still move them; this
    keeps the stored values exactly zero. Not serialized: the layer re-creates
    it in `build`.
    """

    def __init__(self, masks_fn, inner=None):
        self.masks_fn = masks_fn
        self.inner = inner

    def __call__(self, w):
        if self.inner is not None:
            w = self.inner(w)
        for mask in self.masks_fn():
            w = w * ops.cast(mask, w.dtype)
        return w


_RECORDERS = []  # lists that `recording_calls` hands out; empty outside it


@contextlib.contextmanager
def recording_calls():
    """Yields a list that receives `(layer, inputs, outputs)` for every `MaskedDense`
    call made inside the block (eager calls: how `ffn_pairs` reads a subclassed
    layer's `call`). Outside the block nothing is recorded and nothing costs."""
    calls = []
    _RECORDERS.append(calls)
    try:
        yield calls
    finally:
        _RECORDERS.remove(calls)


@keras.saving.register_keras_serializable(package="keras_compress")
class MaskedDense(base.CompressedLayer, keras.layers.Dense):
    """`Dense` with a weight mask on the kernel and a mask on output units.

    `kernel_mask` (shape of the kernel) removes single weights; `unit_mask`
    (shape `(units,)`) removes whole output units (neurons): their kernel
    column, bias and output become exactly zero, so `strip` can later cut them
    out of the matrix. Both masks are non-trainable weights, saved with the
    model. Masked weights receive zero gradient and are re-zeroed after every
    optimizer step, so they stay exactly zero whatever the optimizer's state.

    Example:

    >>> import numpy as np, keras
    >>> from keras_compress.layers import MaskedDense
    >>> layer = MaskedDense(4)
    >>> layer.build((None, 3))
    >>> _ = layer.unit_mask.assign([1.0, 0.0, 1.0, 1.0])
    >>> y = layer(np.ones((2, 3), "float32"))
    >>> float(abs(keras.ops.convert_to_numpy(y)[:, 1]).max())
    0.0
    """

    replaces = (keras.layers.Dense,)

    def __init__(self, units, **kwargs):
        if kwargs.get("lora_rank"):
            raise ValueError(
                "MaskedDense does not support `lora_rank`; merge LoRA weights "
                "before swapping."
            )
        super().__init__(units, **kwargs)

    def build(self, input_shape):
        super().build(input_shape)
        self.kernel_mask = self.add_weight(
            name="kernel_mask",
            shape=self._kernel.shape,
            initializer="ones",
            trainable=False,
        )
        self.unit_mask = self.add_weight(
            name="unit_mask", shape=(self.units,), initializer="ones", trainable=False
        )
        self._kernel.constraint = MaskConstraint(
            lambda: (self.kernel_mask, self.unit_mask), self.kernel_constraint
        )
        if self.bias is not None:
            self.bias.constraint = MaskConstraint(
                lambda: (self.unit_mask,), self.bias_constraint
            )

    def call(self, inputs, training=None):
        kernel = self._kernel * self.kernel_mask * self.unit_mask
        x = ops.matmul(inputs, kernel)
        if self.bias is not None:
            x = ops.add(x, self.bias * self.unit_mask)
        if self.activation is not None:
            x = self.activation(x)
        x = x * self.unit_mask
        if _RECORDERS:
            _RECORDERS[-1].append((self, inputs, x))
        return x

    def quantize(self, mode=None, **kwargs):
        raise NotImplementedError(
            f"Layer '{self.name}': MaskedDense cannot be quantized by Keras; "
            "call keras_compress.strip(model) first."
        )

    def _ordered_variables(self):
        variables = [self._kernel]
        if self.bias is not None:
            variables.append(self.bias)
        return variables + [self.kernel_mask, self.unit_mask]

    def apply_masks(self):
        """Zeroes the stored kernel and bias wherever the masks are zero."""
        self._kernel.assign(self._kernel.constraint(self._kernel))
        if self.bias is not None:
            self.bias.assign(self.bias.constraint(self.bias))

    @classmethod
    def from_layer(cls, layer, **kwargs):
        return base.from_kernel_layer(cls, layer, keras.layers.Dense, **kwargs)

    def _check_neuron_mask_bakeable(self):
        unit_mask = ops.convert_to_numpy(self.unit_mask)
        if self.activation is None or unit_mask.all():
            return
        at_zero = ops.convert_to_numpy(self.activation(ops.zeros((1,), self.compute_dtype)))
        if abs(float(at_zero[0])) > 0:
            raise ValueError(
                f"Layer '{self.name}': cannot bake a neuron mask into a plain "
                f"Dense with activation '{keras.activations.serialize(self.activation)}' "
                "because it is non-zero at 0; physically remove the neurons instead."
            )

    def to_plain(self):
        self._check_neuron_mask_bakeable()
        plain = keras.layers.Dense.from_config(base.plain_config(self, keras.layers.Dense))
        base.build_like(plain, self)
        plain.kernel.assign(base.masked_value(self._kernel, self.kernel_mask, self.unit_mask))
        if self.bias is not None:
            plain.bias.assign(base.masked_value(self.bias, self.unit_mask))
        return plain

    def compression_state(self):
        return [self.kernel_mask, self.unit_mask]

    def compression_info(self):
        mask = ops.convert_to_numpy(self.kernel_mask) * ops.convert_to_numpy(self.unit_mask)
        units = ops.convert_to_numpy(self.unit_mask)
        return {
            "kind": "masked",
            "params": base.weight_count(self),
            "weight_sparsity": float(1.0 - mask.mean()),
            "neurons_kept": f"{int(units.sum())}/{units.size}",
        }
