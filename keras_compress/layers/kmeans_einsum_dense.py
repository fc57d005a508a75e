"""`KMeansEinsumDense`: the `EinsumDense` twin of `KMeansDense`."""

import keras
from keras import ops
from keras.src.layers.core.einsum_dense import _analyze_einsum_string  # noqa: private

from keras_compress.layers.clustered import ClusteredKernel


@keras.saving.register_keras_serializable(package="keras_compress")
class KMeansEinsumDense(ClusteredKernel, keras.layers.Layer):
    """An `EinsumDense` whose kernel is `centroids[assignments]` (k-means weight sharing).

    keras-hub's BERT computes its attention projections (query, key, value,
    output) with `EinsumDense`; this layer clusters them like `KMeansDense`
    clusters the feed-forward layers. Build one from a built `EinsumDense`
    with `KMeansEinsumDense.from_layer(layer, n_clusters=16)`.

    Args:
        equation, output_shape, bias_axes, activation: as for
            `keras.layers.EinsumDense`.
        n_clusters: number of shared values, 2 to 256.
        init: k-means initialisation used by `from_layer`: `"linear"` or
            `"kmeans++"`.

    Example:

    >>> import numpy as np, keras
    >>> from keras_compress.layers import KMeansEinsumDense
    >>> source = keras.layers.EinsumDense("abc,cde->abde", (None, 2, 4), bias_axes="de")
    >>> source.build((None, 5, 8))
    >>> layer = KMeansEinsumDense.from_layer(source, n_clusters=4)
    >>> len(np.unique(keras.ops.convert_to_numpy(layer.kernel)))
    4
    """

    replaces = (keras.layers.EinsumDense,)
    plain_type = keras.layers.EinsumDense

    def __init__(self, equation, output_shape, n_clusters, activation=None, bias_axes=None,
                 init="kmeans++", **kwargs):
        super().__init__(**kwargs)
        self._init_clusters(n_clusters, init)
        self.equation = equation
        self.partial_output_shape = (
            (output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
        )
        self.bias_axes = bias_axes
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        kernel_shape, bias_shape, full_output_shape, _, _ = _analyze_einsum_string(
            self.equation, self.bias_axes, input_shape, self.partial_output_shape
        )
        self.full_output_shape = tuple(full_output_shape)
        self._build_codebook(kernel_shape)
        if bias_shape is not None:
            self.bias = self.add_weight(name="bias", shape=tuple(bias_shape), initializer="zeros")
        else:
            self.bias = None

    @property
    def kernel(self):
        """The shared-value kernel, `centroids[assignments]`."""
        return self.clustered_weight

    def call(self, inputs):
        x = ops.einsum(self.equation, inputs, self.kernel)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(
            _analyze_einsum_string(
                self.equation, self.bias_axes, input_shape, self.partial_output_shape
            )[2]
        )

    def get_config(self):
        return {
            **super().get_config(),
            "equation": self.equation,
            "output_shape": self.partial_output_shape,
            "activation": keras.activations.serialize(self.activation),
            "bias_axes": self.bias_axes,
        }

    @classmethod
    def _own_args(cls, config):
        return {key: config[key] for key in ("equation", "output_shape", "activation", "bias_axes")}
