"""Weight clustering (k-means weight sharing): the mid-fit callback and the sensitivity study."""

from keras_compress.clustering.callbacks import WeightClustering, rebuild_optimizer
from keras_compress.ops.kmeans import kmeans_1d
from keras_compress.clustering.sensitivity import sensitivity
from keras_compress.clustering.targets import GROUPS, group_layers
from keras_compress.size_report import size_report

__all__ = [
    "GROUPS",
    "WeightClustering",
    "group_layers",
    "kmeans_1d",
    "rebuild_optimizer",
    "sensitivity",
    "size_report",
]
