"""Weight clustering (k-means weight sharing)."""

from keras_compress.clustering.kmeans import kmeans_1d

__all__ = ["kmeans_1d"]
