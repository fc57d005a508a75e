"""Embedding tables that survive the TFLite converter's per-tensor int8 quantization.

The converter quantizes an embedding table with one scale for the whole
table, set by its largest value. In MiniLM the largest value is about 6x
the typical row's, so most rows keep only a few int8 levels: enough on its
own to flip the labels of a briefly fine-tuned intent classifier whose top
two classes are close.
Here each row is divided by its own scale before conversion and multiplied
back after the lookup: every row spans the full int8 range, as with per-row
quantization. The row scales are rounded up onto the int8 grid of the
largest one, so their own per-tensor quantization is exact.
"""

import keras
import numpy as np
from keras import ops

from keras_compress.surgery.swap import swap_layers

# The converter leaves tensors smaller than this in float.
MIN_QUANTIZED_ELEMENTS = 1024


class RowScaledEmbedding(keras.layers.Layer):
    """Export-only lookup `normalized[ids] * row_scale[ids]`, equal to the original.

    Example:

    >>> import numpy as np
    >>> table = np.random.default_rng(0).normal(size=(50, 8)).astype("float32")
    >>> layer = RowScaledEmbedding.from_table(table, name="token_embedding")
    >>> ids = np.array([[3, 7]])
    >>> bool(np.allclose(layer(ids), table[ids], atol=1e-6))
    True
    """

    def __init__(self, vocabulary_size, dim, **kwargs):
        super().__init__(**kwargs)
        self.normalized = self.add_weight(
            shape=(vocabulary_size, dim), initializer="zeros", trainable=False, name="normalized"
        )
        self.row_scale = self.add_weight(
            shape=(vocabulary_size, 1), initializer="ones", trainable=False, name="row_scale"
        )

    @classmethod
    def from_table(cls, table, name):
        table = np.asarray(table, "float32")
        row_max = np.abs(table).max(axis=1)
        step = max(float(row_max.max()), 1e-12) / 127.0
        levels = np.clip(np.ceil(row_max / step * (1 - 1e-6)), 1, 127)
        scale = (levels * step).astype("float32")[:, None]
        layer = cls(*table.shape, name=name)
        layer.normalized.assign(table / scale)
        layer.row_scale.assign(scale)
        return layer

    def call(self, inputs, reverse=False):
        if reverse:
            raise ValueError(f"{self.name}: the export-only embedding has no reverse lookup.")
        return ops.take(self.normalized, inputs, axis=0) * ops.take(self.row_scale, inputs, axis=0)


def row_scale_embeddings(model):
    """Replaces, in place, large embedding tables of `model` by `RowScaledEmbedding`s.

    For export only: the model's outputs are unchanged (up to float rounding),
    but it no longer saves as the original architecture.
    """

    def policy(layer, path):
        if not isinstance(layer, keras.layers.Embedding) or layer.mask_zero:
            return None
        if int(np.prod(layer.embeddings.shape)) < MIN_QUANTIZED_ELEMENTS:
            return None
        return lambda old: RowScaledEmbedding.from_table(old.embeddings.numpy(), old.name)

    return swap_layers(model, policy, include_embeddings=True, include_classifier=True)
