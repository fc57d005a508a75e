"""Callbacks that compress a model during `model.fit`."""

from keras_compress.clustering.callbacks import WeightClustering
from keras_compress.pruning.callbacks import HeadPruning, MagnitudePruning, NeuronPruning
from keras_compress.quantization.callbacks import QATToggle

__all__ = ["HeadPruning", "MagnitudePruning", "NeuronPruning"]
__all__ += ["QATToggle"]
__all__ += ["WeightClustering"]
