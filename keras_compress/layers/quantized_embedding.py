"""`QuantizedEmbedding`: int8 weight-only fake quantization of an embedding table."""

import keras
from keras import ops

from keras_compress.layers import base, qat
from keras_compress.layers.embedding_calls import EmbeddingCalls
from keras_compress.ops.fake_quant import fake_quant_weights


@keras.saving.register_keras_serializable(package="keras_compress")
class QuantizedEmbedding(qat.FakeQuantSwitch, EmbeddingCalls, keras.layers.Layer):
    """An `Embedding` whose table is fake-quantized to int8 (weights only).

    The table is rounded onto a symmetric per-tensor int8 grid (-127..127
    times `max|table| / 127`); the looked-up vectors stay float (no
    activation quantization). Trained this way, the model adapts to the int8
    table; converted to TFLite with `Optimize.DEFAULT` next to QAT layers, the
    table becomes an int8 `GATHER` (a quarter of its float32 bytes).
    Per-row ranges would be finer, but do not convert (the converter's
    per-channel fake quant is on the last axis only).

    Replaces `keras.layers.Embedding` and its subclasses (keras-hub's tied
    `ReversibleEmbedding`: `call(x, reverse=True)` projects onto the
    quantized table). The switch starts off; `QATToggle` flips it with the
    other QAT layers. `to_plain` gives back the replaced layer's class, with
    the int8-grid table when quantization is on.

    Args:
        input_dim, output_dim: vocabulary size and embedding size.
        source: the serialized layer this one replaces (set by `from_layer`).
        mask_zero: as for `keras.layers.Embedding`.

    Example:

    >>> import numpy as np, keras
    >>> from keras_compress.layers import QuantizedEmbedding
    >>> table = keras.layers.Embedding(50, 8)
    >>> table.build((None,))
    >>> layer = QuantizedEmbedding.from_layer(table)
    >>> layer.enable_quantization(True)
    >>> out = keras.ops.convert_to_numpy(layer(np.arange(50)))
    >>> len(np.unique(out)) <= 255
    True
    """

    replaces = (keras.layers.Embedding,)

    def __init__(self, input_dim, output_dim, source, mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(source, dict) or "config" not in source:
            raise ValueError(
                "QuantizedEmbedding: `source` must be the serialized layer it replaces "
                f"(keras.saving.serialize_keras_object(layer)); received {source!r}."
            )
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.source = source
        self.mask_zero = mask_zero
        self.supports_masking = mask_zero

    def build(self, input_shape=None):
        self.table = self.add_weight(
            name="embeddings", shape=(self.input_dim, self.output_dim), initializer="zeros"
        )
        self._build_switch()

    @property
    def quantized_table(self):
        """The table as the quantized model sees it (float values on the int8 grid)."""
        return fake_quant_weights(ops.cast(self.table, "float32"), "per_tensor")

    @property
    def embeddings(self):
        """The table in use: int8-grid when quantization is on."""
        return ops.where(self.quantization_enabled,
                         ops.cast(self.quantized_table, self.table.dtype), self.table)

    def _lookup(self, ids):
        return ops.take(self.embeddings, ids, axis=0)

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "source": self.source,
            "mask_zero": self.mask_zero,
        }

    def _ordered_variables(self):
        return [self.table, self.quantization_enabled]

    def compression_state(self):
        return [self.quantization_enabled]

    def compression_info(self):
        return {"kind": "qat", "params": base.weight_count(self),
                "bits": 8 if self.quantization_on else 32}

    @classmethod
    def from_layer(cls, layer):
        base.check_source_layer(layer, cls.replaces, cls)
        if getattr(layer, "tie_weights", True) is False or getattr(
            layer, "logit_soft_cap", None) is not None:
            raise ValueError(
                f"QuantizedEmbedding.from_layer: layer '{layer.name}' has an untied reverse "
                "projection or soft-capped logits, which QuantizedEmbedding does not support."
            )
        config = layer.get_config()
        new = cls(
            input_dim=layer.input_dim,
            output_dim=layer.output_dim,
            source=keras.saving.serialize_keras_object(layer),
            mask_zero=layer.mask_zero,
            name=config["name"],
            dtype=config["dtype"],
            trainable=config["trainable"],
        )
        base.build_like(new, layer)
        new.table.assign(layer.embeddings)
        return new

    def to_plain(self):
        """The replaced layer (same class and config); int8-grid table if quantization is on."""
        plain = keras.saving.deserialize_keras_object(self.source)
        if not plain.built:
            base.build_like(plain, self)
        table = self.quantized_table if self.quantization_on else self.table
        plain.embeddings.assign(ops.convert_to_numpy(table))
        return plain
