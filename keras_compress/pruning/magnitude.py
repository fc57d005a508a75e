"""Weight masks from magnitudes: unstructured, N:M and block patterns.

All functions take and return NumPy arrays; a mask is 1.0 where a weight is
kept. Patterns see a kernel as a matrix `(inputs, outputs)`: `input_axes`
names the kernel axes contracted with the layer's input (Dense `(0,)`; an
attention output projection `(heads, head_dim, out)` has `(0, 1)`).
"""

import re

import numpy as np

from keras_compress import checks


def keep_largest(scores, sparsity):
    """Mask keeping the `1 - sparsity` fraction of `scores` with the largest values.

    Ties at the threshold are broken by position, so the kept fraction is exact.
    """
    flat = np.asarray(scores, dtype=np.float64).reshape(-1)
    n_prune = int(round(sparsity * flat.size))
    mask = np.ones(flat.size, dtype=np.float32)
    if n_prune > 0:
        mask[np.argsort(flat, kind="stable")[:n_prune]] = 0.0
    return mask.reshape(np.shape(scores))


def global_masks(kernels, sparsity):
    """One magnitude threshold across all `kernels` (a list): masks, in order."""
    sizes = [k.size for k in kernels]
    flat = np.concatenate([np.abs(k).reshape(-1) for k in kernels])
    mask = keep_largest(flat, sparsity)
    return [m.reshape(k.shape) for m, k in zip(np.split(mask, np.cumsum(sizes)[:-1]), kernels)]


def parse_pattern(pattern):
    """`None`, `"N:M"` (e.g. `"2:4"`) or a block shape `(rows, cols)` such as `(1, 4)`."""
    if pattern is None:
        return None
    if isinstance(pattern, str):
        match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", pattern)
        if match and 0 < int(match[1]) < int(match[2]):
            return ("n:m", int(match[1]), int(match[2]))
    elif (
        isinstance(pattern, (tuple, list))
        and len(pattern) == 2
        and all(checks.is_integer(v) and v >= 1 for v in pattern)
    ):
        return ("block", int(pattern[0]), int(pattern[1]))
    raise ValueError(
        "`pattern` must be None, 'N:M' with 0 < N < M (e.g. '2:4'), or a block shape "
        f"(rows, cols) of positive integers (e.g. (1, 4)); received {pattern!r}."
    )


def _as_matrix(kernel, input_axes):
    other = [a for a in range(kernel.ndim) if a not in input_axes]
    order = list(input_axes) + other
    moved = np.transpose(kernel, order)
    rows = int(np.prod([kernel.shape[a] for a in input_axes]))
    return moved.reshape(rows, -1), order, moved.shape


def _from_matrix(matrix, order, moved_shape):
    return np.transpose(matrix.reshape(moved_shape), np.argsort(order))


def n_m_mask(kernel, n, m, input_axes=(0,)):
    """Keeps the `n` largest-magnitude weights in every group of `m` consecutive inputs."""
    matrix, order, shape = _as_matrix(np.abs(kernel), input_axes)
    rows = matrix.shape[0]
    if rows % m:
        raise ValueError(f"an {n}:{m} pattern needs an input size divisible by {m}; got {rows}.")
    groups = matrix.reshape(rows // m, m, -1)
    ranks = np.argsort(-groups, axis=1, kind="stable")
    mask = np.zeros_like(groups, dtype=np.float32)
    np.put_along_axis(mask, ranks[:, :n, :], 1.0, axis=1)
    return _from_matrix(mask.reshape(rows, -1), order, shape)


def block_mask(kernel, sparsity, block, input_axes=(0,)):
    """Prunes whole `block = (rows, cols)` tiles of the `(inputs, outputs)` matrix
    with the smallest mean |w|."""
    rows, cols = block
    matrix, order, shape = _as_matrix(np.abs(kernel), input_axes)
    if matrix.shape[0] % rows or matrix.shape[1] % cols:
        raise ValueError(
            f"block {block} does not tile a kernel of shape {kernel.shape} "
            f"(viewed as {matrix.shape})."
        )
    tiles = matrix.reshape(matrix.shape[0] // rows, rows, matrix.shape[1] // cols, cols)
    tile_mask = keep_largest(tiles.mean(axis=(1, 3)), sparsity)
    mask = np.repeat(np.repeat(tile_mask, rows, axis=0), cols, axis=1)
    return _from_matrix(mask.astype(np.float32), order, shape)


def input_axes(layer):
    """Kernel axes contracted with the input: `(0,)` for Dense, from the equation for EinsumDense."""
    equation = getattr(layer, "equation", None)
    if equation is None:
        return (0,)
    inputs, rest = equation.split(",")
    kernel = rest.split("->")[0]
    return tuple(i for i, axis in enumerate(kernel) if axis in inputs)
