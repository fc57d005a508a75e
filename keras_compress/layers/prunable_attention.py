"""`PrunableAttention`: multi-head attention with a gate per head."""

import keras
from keras import ops

from keras_compress.layers import base

PROJECTIONS = ("_query_dense", "_key_dense", "_value_dense", "_output_dense")


@keras.saving.register_keras_serializable(package="keras_compress")
class PrunableAttention(base.CompressedLayer, keras.layers.MultiHeadAttention):
    """`MultiHeadAttention` whose heads are multiplied by `head_mask`.

    `head_mask` has shape `(num_heads,)`, is non-trainable and starts at ones.
    Setting an entry to 0 removes that head's contribution to the output (the
    projection inputs of a pruned head can then be cut out of the matrices).
    The same variable is the continuous gate of Michel et al. (2019): the
    gradient of the loss with respect to `head_mask` at 1 is the head's
    importance score, e.g. with `tf.GradientTape().watch(layer.head_mask)`.

    It is a drop-in replacement for the attention layer inside keras-hub's
    `TransformerEncoder` (`keras_compress.swap_layers` puts it there).

    Example:

    >>> import numpy as np
    >>> from keras_compress.layers import PrunableAttention
    >>> layer = PrunableAttention(num_heads=4, key_dim=8)
    >>> x = np.random.rand(2, 5, 32).astype("float32")
    >>> _ = layer(x, x)
    >>> _ = layer.head_mask.assign([1.0, 1.0, 0.0, 1.0])
    >>> layer(x, x).shape
    TensorShape([2, 5, 32])
    """

    replaces = (keras.layers.MultiHeadAttention,)

    def build(self, query_shape, value_shape, key_shape=None):
        super().build(query_shape, value_shape, key_shape)
        self.head_mask = self.add_weight(
            name="head_mask", shape=(self.num_heads,), initializer="ones", trainable=False
        )

    def _compute_attention(self, query, key, value, attention_mask=None, training=None,
                           return_attention_scores=False, **kwargs):
        output, scores = super()._compute_attention(
            query, key, value, attention_mask, training, return_attention_scores, **kwargs
        )
        # output: (batch, ..., num_heads, head_dim)
        gate = ops.cast(ops.reshape(self.head_mask, (self.num_heads, 1)), output.dtype)
        return output * gate, scores

    def _ordered_variables(self):
        # Sub-layers save their own variables; the mask is this layer's only one.
        return [self.head_mask]

    @classmethod
    def from_layer(cls, layer, **kwargs):
        base.check_source_layer(layer, cls.replaces, cls)
        for method in ("call", "_compute_attention"):
            if getattr(type(layer), method) is not getattr(keras.layers.MultiHeadAttention, method):
                raise TypeError(
                    f"PrunableAttention.from_layer: layer '{layer.name}' is a "
                    f"{type(layer).__name__}, which overrides MultiHeadAttention.{method}; "
                    "only plain MultiHeadAttention layers can be replaced."
                )
        if layer._use_gate:
            raise ValueError(
                f"PrunableAttention.from_layer: layer '{layer.name}' uses `use_gate=True`, "
                "which is not supported."
            )
        config = base.plain_config(layer, keras.layers.MultiHeadAttention)
        new = cls.from_config({**config, **kwargs})
        base.build_like(new, layer)
        for name in PROJECTIONS:
            source, target = getattr(layer, name), getattr(new, name)
            if type(source) is not type(target):
                raise ValueError(
                    f"PrunableAttention.from_layer: projection '{source.name}' of layer "
                    f"'{layer.name}' is already a {type(source).__name__}; swap the "
                    "attention layer before (or together with) its projections."
                )
            target.set_weights(source.get_weights())
        return new

    def to_plain(self):
        """A plain `MultiHeadAttention` with the head mask baked into the output kernel.

        Masked heads still run but contribute nothing; `keras_compress.strip`
        then cuts them out of the matrices (`surgery.slicing.keep_heads`).
        """
        mask = ops.convert_to_numpy(self.head_mask)
        plain = keras.layers.MultiHeadAttention.from_config(
            base.plain_config(self, keras.layers.MultiHeadAttention)
        )
        base.build_like(plain, self)
        for name in PROJECTIONS:
            source = getattr(self, name)
            if isinstance(source, base.CompressedLayer):
                source = source.to_plain()
            weights = source.get_weights()
            if name == "_output_dense":
                # kernel: (num_heads, head_dim, ...); pruned heads contribute nothing.
                weights[0] = weights[0] * mask.reshape((-1,) + (1,) * (weights[0].ndim - 1))
            getattr(plain, name).set_weights(weights)
        return plain

    def compression_state(self):
        return [self.head_mask]

    def compression_info(self):
        mask = ops.convert_to_numpy(self.head_mask)
        return {
            "kind": "heads",
            "params": base.weight_count(self),
            "heads_kept": f"{int((mask != 0).sum())}/{mask.size}",
        }
