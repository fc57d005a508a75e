"""`EmbeddingCalls`: the call protocol of `keras.layers.Embedding` for our table layers."""

import keras
from keras import ops


class EmbeddingCalls:
    """Mixin: ids in, rows of `self._lookup(ids)` out; `reverse=True` projects onto the table.

    As `keras.layers.Embedding` and keras-hub's tied `ReversibleEmbedding` do,
    for layers with `input_dim`, `output_dim`, `mask_zero`, an `embeddings`
    property and a `_lookup(ids)` method.
    """

    def call(self, inputs, reverse=False):
        if reverse:
            return ops.matmul(inputs, ops.transpose(self.embeddings))
        if keras.backend.standardize_dtype(inputs.dtype) not in ("int32", "int64"):
            inputs = ops.cast(inputs, "int32")
        return self._lookup(inputs)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape, reverse=False):
        if reverse:
            return tuple(input_shape[:-1]) + (self.input_dim,)
        return tuple(input_shape) + (self.output_dim,)
