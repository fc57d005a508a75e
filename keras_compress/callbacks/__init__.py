"""Callbacks that compress a model during `model.fit`."""

from keras_compress.pruning.callbacks import HeadPruning, MagnitudePruning, NeuronPruning

__all__ = ["HeadPruning", "MagnitudePruning", "NeuronPruning"]
