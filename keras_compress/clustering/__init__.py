"""Weight clustering (k-means weight sharing): the mid-fit callback and the sensitivity study.

Names: the technique and this package are "clustering"; the layers that hold a clustered
weight are `KMeans*` (`keras_compress.layers.KMeansDense`, ...); the layer-side helpers
they share are `Clustered*` (`keras_compress.layers.clustered.ClusteredKernel`).
`size_report` lives in `keras_compress.size_report` (it writes files, a higher layer);
`keras_compress.clustering.size_report` still works for one release with a warning.
"""

import warnings

from keras_compress.clustering.callbacks import WeightClustering, rebuild_optimizer
from keras_compress.clustering.sensitivity import sensitivity
from keras_compress.clustering.targets import GROUPS, group_layers
from keras_compress.ops.kmeans import kmeans_1d

__all__ = [
    "GROUPS",
    "WeightClustering",
    "group_layers",
    "kmeans_1d",
    "rebuild_optimizer",
    "sensitivity",
]


def __getattr__(name):
    if name == "size_report":
        warnings.warn(
            "`keras_compress.clustering.size_report` is deprecated; use "
            "`from keras_compress.size_report import size_report`.",
            DeprecationWarning,
            stacklevel=2,
        )
        from keras_compress.size_report import size_report  # deprecated alias, removed next release

        return size_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
