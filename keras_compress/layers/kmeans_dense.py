"""`KMeansDense`: a Dense layer whose kernel shares a few k-means values."""

import keras
from keras import ops

from keras_compress import checks
from keras_compress.layers.clustered import ClusteredKernel


@keras.saving.register_keras_serializable(package="keras_compress")
class KMeansDense(ClusteredKernel, keras.layers.Layer):
    """A densely connected layer whose kernel is `centroids[assignments]`.

    The kernel takes only `n_clusters` distinct values (weight sharing, Han et
    al. 2016): `centroids` (shape `(n_clusters,)`) are trainable and receive
    the summed gradient of every weight assigned to them; `assignments` (int32,
    kernel-shaped) are fixed, and stored bit-packed in `.keras` files. Build
    one from a trained `Dense` with `KMeansDense.from_layer(dense,
    n_clusters=16)`, which runs k-means on its kernel, or let
    `keras_compress.callbacks.WeightClustering` do it during `fit`.

    Args:
        units: output size.
        n_clusters: number of shared values, 2 to 256.
        activation, use_bias: as in `keras.layers.Dense`.
        init: k-means initialisation used by `from_layer`: `"linear"` or
            `"kmeans++"`.

    Example:

    >>> import numpy as np, keras
    >>> from keras_compress.layers import KMeansDense
    >>> dense = keras.layers.Dense(8)
    >>> dense.build((None, 16))
    >>> layer = KMeansDense.from_layer(dense, n_clusters=4)
    >>> len(np.unique(keras.ops.convert_to_numpy(layer.kernel)))
    4
    """

    replaces = (keras.layers.Dense,)
    plain_type = keras.layers.Dense

    def __init__(
        self,
        units,
        n_clusters,
        activation=None,
        use_bias=True,
        init="kmeans++",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not checks.is_integer(units) or units <= 0:
            raise ValueError(f"KMeansDense: `units` must be a positive integer; received {units!r}.")
        self._init_clusters(n_clusters, init)
        self.units = int(units)
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        self._build_codebook((input_dim, self.units))
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.units,), initializer=self.bias_initializer
            )
        else:
            self.bias = None
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: input_dim})

    @property
    def kernel(self):
        """The shared-value kernel, `centroids[assignments]`."""
        return self.clustered_weight

    def call(self, inputs):
        x = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }

    @classmethod
    def _own_args(cls, config):
        return {key: config[key] for key in ("units", "activation", "use_bias")}
