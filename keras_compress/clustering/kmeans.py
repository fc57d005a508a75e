"""Old home of 1-D k-means; it lives in `keras_compress.ops.kmeans` now."""

from keras_compress.ops.kmeans import INITS, kmeans_1d  # noqa: F401  (re-export)

__all__ = ["INITS", "kmeans_1d"]
