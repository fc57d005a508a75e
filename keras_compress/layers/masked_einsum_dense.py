"""`MaskedEinsumDense`: the `EinsumDense` twin of `MaskedDense`."""

import keras
from keras import ops

from keras_compress.layers import base
from keras_compress.layers.masked_dense import MaskConstraint


@keras.saving.register_keras_serializable(package="keras_compress")
class MaskedEinsumDense(base.CompressedLayer, keras.layers.EinsumDense):
    """`EinsumDense` with a non-trainable weight mask of the kernel's shape.

    keras-hub's BERT computes its attention projections (query, key, value,
    output) with `EinsumDense`; this layer lets magnitude pruning reach them.
    Masked weights get zero gradient and are re-zeroed after each optimizer
    step.

    Example:

    >>> import numpy as np
    >>> from keras_compress.layers import MaskedEinsumDense
    >>> layer = MaskedEinsumDense("abc,cde->abde", output_shape=(None, 2, 4))
    >>> layer.build((None, 5, 8))
    >>> _ = layer.kernel_mask.assign(np.zeros((8, 2, 4), "float32"))
    >>> float(abs(layer(np.ones((1, 5, 8), "float32"))).numpy().max())
    0.0
    """

    replaces = (keras.layers.EinsumDense,)

    def __init__(self, equation, output_shape, **kwargs):
        if kwargs.get("lora_rank"):
            raise ValueError(
                "MaskedEinsumDense does not support `lora_rank`; merge LoRA "
                "weights before swapping."
            )
        super().__init__(equation, output_shape, **kwargs)

    def build(self, input_shape):
        super().build(input_shape)
        self.kernel_mask = self.add_weight(
            name="kernel_mask",
            shape=self._kernel.shape,
            initializer="ones",
            trainable=False,
        )
        self._kernel.constraint = MaskConstraint(
            lambda: (self.kernel_mask,), self.kernel_constraint
        )

    def call(self, inputs, training=None):
        x = ops.einsum(self.equation, inputs, self._kernel * self.kernel_mask)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        return x

    def quantize(self, mode=None, **kwargs):
        raise NotImplementedError(
            f"Layer '{self.name}': MaskedEinsumDense cannot be quantized by "
            "Keras; call keras_compress.strip(model) first."
        )

    def _ordered_variables(self):
        variables = [self._kernel]
        if self.bias is not None:
            variables.append(self.bias)
        return variables + [self.kernel_mask]

    def apply_masks(self):
        """Zeroes the stored kernel wherever the mask is zero."""
        self._kernel.assign(self._kernel.constraint(self._kernel))

    @classmethod
    def from_layer(cls, layer, **kwargs):
        return base.from_kernel_layer(cls, layer, keras.layers.EinsumDense, **kwargs)

    def to_plain(self):
        plain = keras.layers.EinsumDense.from_config(
            base.plain_config(self, keras.layers.EinsumDense)
        )
        base.build_like(plain, self)
        plain.kernel.assign(base.masked_value(self._kernel, self.kernel_mask))
        if self.bias is not None:
            plain.bias.assign(self.bias)
        return plain

    def compression_state(self):
        return [self.kernel_mask]

    def compression_info(self):
        mask = ops.convert_to_numpy(self.kernel_mask)
        return {
            "kind": "masked",
            "params": base.weight_count(self),
            "weight_sparsity": float(1.0 - mask.mean()),
        }
