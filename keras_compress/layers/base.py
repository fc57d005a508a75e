"""What every keras_compress layer shares: conversion to and from plain Keras layers."""

import keras
import numpy as np


class CompressedLayer:
    """Mixin for layers that stand in for a plain Keras layer during compression.

    A compressed layer is created from a built plain layer with `from_layer`
    (weights copied, outputs unchanged) and turned back into a plain layer with
    `to_plain` (compression baked into the weights). `swap_layers` and `strip`
    only talk to layers through these two methods and `compression_info`.
    """

    #: Plain Keras layer types this layer can replace.
    replaces: tuple = ()

    @classmethod
    def from_layer(cls, layer, **kwargs):
        """Builds this layer from a built plain layer, copying its weights."""
        raise NotImplementedError

    def to_plain(self):
        """Returns a built plain Keras layer with the compression baked in."""
        raise NotImplementedError

    def compression_info(self):
        """Returns a dict of what is compressed, for `keras_compress.summary`."""
        raise NotImplementedError

    def compression_state(self):
        """Variables that describe the compression (masks, ranges), not model weights."""
        return []

    def _ordered_variables(self):
        """Variables in the order `save_own_variables` writes them."""
        return [v for v in self.variables]

    # Keras's Dense/EinsumDense save only kernel and bias; ours carry masks,
    # codebooks and quantization ranges too, so we write every variable.
    def save_own_variables(self, store):
        if not self.built:
            return
        for i, variable in enumerate(self._ordered_variables()):
            store[str(i)] = self._stored_value(variable)

    def load_own_variables(self, store):
        if not self.built:
            return
        variables = self._ordered_variables()
        if len(store.keys()) != len(variables):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expected "
                f"{len(variables)} variables in the saved file, found "
                f"{len(store.keys())}."
            )
        for i, variable in enumerate(variables):
            variable.assign(self._loaded_value(variable, store[str(i)]))

    def _stored_value(self, variable):
        """What the `.keras` file holds for `variable` (subclasses may encode it)."""
        return variable

    def _loaded_value(self, variable, value):
        """The value to assign to `variable` from what `_stored_value` wrote."""
        return value


def check_source_layer(layer, expected_types, target):
    """Raises a clear error when `layer` cannot be converted to `target`."""
    if not isinstance(layer, expected_types):
        names = ", ".join(t.__name__ for t in expected_types)
        raise TypeError(
            f"{target.__name__}.from_layer: layer '{layer.name}' is a "
            f"{type(layer).__name__}; expected one of: {names}."
        )
    if not layer.built:
        raise ValueError(
            f"{target.__name__}.from_layer: layer '{layer.name}' is not built. "
            "Build the model (call it once or call `build`) before swapping."
        )
    if getattr(layer, "quantization_mode", None):
        raise ValueError(
            f"{target.__name__}.from_layer: layer '{layer.name}' is already "
            f"quantized by Keras (mode '{layer.quantization_mode}'); swap the "
            "float model instead."
        )
    if getattr(layer, "lora_enabled", False):
        raise ValueError(
            f"{target.__name__}.from_layer: layer '{layer.name}' has LoRA "
            "enabled; merge the LoRA weights into the kernel first."
        )


def weight_count(layer):
    """Number of model weights in `layer` and its sub-layers.

    Compression state (masks, quantization ranges and switches) is not counted;
    k-means assignments are (they are the weights' indices).
    """
    state = {
        id(v)
        for sub in layer._flatten_layers()
        if isinstance(sub, CompressedLayer)
        for v in sub.compression_state()
    }
    return sum(int(np.prod(v.shape)) for v in layer.weights if id(v) not in state)


def build_like(new_layer, old_layer):
    """Builds `new_layer` with the shapes `old_layer` was built with."""
    build_config = old_layer.get_build_config()
    if build_config:
        new_layer.build_from_config(build_config)
    else:  # built by hand without recorded shapes: Dense-style layers only
        new_layer.build((None, old_layer.kernel.shape[0]))


def from_kernel_layer(cls, layer, plain_type, **kwargs):
    """A `cls` built like the `plain_type` `layer`, with its kernel and bias copied in.

    The shared `from_layer` of the layers that keep the plain kernel in `_kernel`
    (masked and quantized Dense / EinsumDense); `kwargs` override the config.
    """
    check_source_layer(layer, cls.replaces, cls)
    new = cls.from_config({**plain_config(layer, plain_type), **kwargs})
    build_like(new, layer)
    new._kernel.assign(layer.kernel)
    if new.bias is not None:
        new.bias.assign(layer.bias)
    return new


def plain_config(layer, plain_type):
    """The `plain_type` part of `layer`'s config (drops subclass-only keys)."""
    return plain_type.get_config(layer)


def masked_value(variable, *masks):
    """`variable * mask * ...` as a NumPy array."""
    value = keras.ops.convert_to_numpy(variable)
    for mask in masks:
        value = value * keras.ops.convert_to_numpy(mask)
    return value
