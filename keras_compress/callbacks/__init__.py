"""Callbacks that compress a model during `model.fit`: the one namespace for all of them.

`QATToggle` and `WeightClustering` are also importable from `keras_compress.quantization`
and `keras_compress.clustering` (the same objects). `Trigger` says when a one-off step
(quantization on, clustering) starts.
"""

from keras_compress.clustering.callbacks import WeightClustering
from keras_compress.pruning.callbacks import HeadPruning, MagnitudePruning, NeuronPruning
from keras_compress.quantization.callbacks import QATToggle
from keras_compress.trigger import Trigger

__all__ = [
    "HeadPruning",
    "MagnitudePruning",
    "NeuronPruning",
    "QATToggle",
    "Trigger",
    "WeightClustering",
]
