"""One-dimensional k-means for weight sharing."""

import numpy as np

INITS = ("linear", "kmeans++")


def kmeans_1d(values, n_clusters, init="kmeans++", max_iter=100, seed=0):
    """Clusters scalar `values` into `n_clusters` shared values.

    Args:
        values: array of any shape; flattened.
        n_clusters: number of centroids, at least 2.
        init: `"linear"` (evenly spaced between min and max, as in Han et al.
            2016 and TF Model Optimization) or `"kmeans++"` (Arthur &
            Vassilvitskii 2007, seeded).
        max_iter: Lloyd iterations at most.
        seed: seed for `"kmeans++"`.

    Returns:
        `(centroids, assignments)`: sorted float32 centroids of shape
        `(n_clusters,)` and int32 indices with the shape of `values`.

    Example:

    >>> import numpy as np
    >>> c, a = kmeans_1d(np.array([0.0, 0.1, 5.0, 5.1]), 2, init="linear")
    >>> [round(float(v), 2) for v in c], a.tolist()
    ([0.05, 5.05], [0, 0, 1, 1])
    """
    if init not in INITS:
        raise ValueError(f"`init` must be one of {INITS}; received init={init!r}.")
    values = np.asarray(values, dtype=np.float64)
    flat = values.reshape(-1)
    if not isinstance(n_clusters, (int, np.integer)) or n_clusters < 2:
        raise ValueError(f"`n_clusters` must be an integer >= 2; received {n_clusters!r}.")
    if n_clusters > flat.size:
        raise ValueError(
            f"`n_clusters`={n_clusters} exceeds the number of values ({flat.size})."
        )
    if init == "linear":
        centroids = np.linspace(flat.min(), flat.max(), n_clusters)
    else:
        centroids = _kmeans_plus_plus(flat, n_clusters, np.random.default_rng(seed))
    # Lloyd iterations on the sorted values: each cluster is a contiguous run
    # between two midpoints, so its count and sum come from prefix sums in
    # O(n_clusters log n) per iteration (embedding tables have millions of values).
    ordered = np.sort(flat)
    prefix = np.concatenate([[0.0], np.cumsum(ordered)])
    for _ in range(max_iter):
        centroids = np.sort(centroids)
        midpoints = (centroids[1:] + centroids[:-1]) / 2
        # Values equal to a midpoint go to the lower cluster, as in `_assign`.
        bounds = np.concatenate([[0], np.searchsorted(ordered, midpoints, side="right"),
                                 [ordered.size]])
        counts = np.diff(bounds)
        sums = prefix[bounds[1:]] - prefix[bounds[:-1]]
        # An empty cluster keeps its centroid rather than collapsing to zero.
        updated = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
        if np.allclose(updated, centroids, rtol=0, atol=1e-12):
            break
        centroids = updated
    centroids = np.sort(centroids)
    assignments = _assign(flat, centroids)
    return centroids.astype(np.float32), assignments.reshape(values.shape).astype(np.int32)


def _assign(flat, sorted_centroids):
    """Index of the nearest centroid, via the midpoints between sorted centroids."""
    midpoints = (sorted_centroids[1:] + sorted_centroids[:-1]) / 2
    return np.searchsorted(midpoints, flat)


def _kmeans_plus_plus(flat, n_clusters, rng):
    sample = flat if flat.size <= 100_000 else rng.choice(flat, 100_000, replace=False)
    centroids = [rng.choice(sample)]
    distances = (sample - centroids[0]) ** 2
    for _ in range(1, n_clusters):
        total = distances.sum()
        if total == 0:  # fewer distinct values than clusters
            centroids.append(sample[rng.integers(sample.size)])
        else:
            centroids.append(rng.choice(sample, p=distances / total))
        distances = np.minimum(distances, (sample - centroids[-1]) ** 2)
    return np.array(centroids)
