"""`size_report`: the bytes a compressed model takes in each format, measured on saved files."""

import contextlib
import gzip
import pathlib
import shutil

import keras
import numpy as np

from keras_compress.layers import clustered
from keras_compress.surgery import tree
from keras_compress.surgery.strip import strip


def size_report(model, directory, tflite=(), include_optimizer=False, print_fn=print):
    """Saves `model` in each format and reports the size of every file written.

    Every number is the size of a file this function wrote (or was given):
    nothing is estimated.

    - `float.keras`: `keras_compress.strip(model)` saved as `.keras` — plain
      layers, float32 weights (clustered weights materialised).
    - `compressed.keras`: `model` itself saved as `.keras`; k-means layers
      store their assignments bit-packed (`ceil(log2(k))` bits per weight)
      plus a float32 codebook, so with 4 clusters a matrix takes about 1/16 of
      its float32 bytes.
    - every `.tflite` file in `tflite` (written beforehand, e.g. by
      `keras_compress.export.to_tflite`), copied into `directory`.
    - a `.gz` (gzip, level 9) of each of those files.

    One more row, `clustered weights (datasets)`, sums the bytes of the arrays
    the k-means layers write into `compressed.keras`, against the float32
    bytes of the same matrices in `float.keras`.

    Args:
        model: a built model, compressed or not.
        directory: where the files are written (created if needed).
        tflite: a path or paths of `.tflite` files to include.
        include_optimizer: keep the optimizer's state in the `.keras` files
            (default: saved without it, which is what is deployed).
        print_fn: prints the table; `None` prints nothing.

    Returns:
        A list of rows (dicts): `format`, `path`, `bytes`, `ratio` (float
        `.keras` bytes divided by this row's bytes).

    Example:

    >>> import keras, tempfile, functools, keras_compress
    >>> from keras_compress.layers import KMeansDense
    >>> from keras_compress.size_report import size_report
    >>> model = keras.Sequential([keras.Input((512,)), keras.layers.Dense(512),
    ...                           keras.layers.Dense(2)])
    >>> _ = keras_compress.swap_layers(
    ...     model, {keras.layers.Dense: functools.partial(KMeansDense.from_layer, n_clusters=4)})
    >>> rows = size_report(model, tempfile.mkdtemp(), print_fn=None)
    >>> sizes = {row["format"]: row["bytes"] for row in rows}
    >>> sizes["float.keras"] > 10 * sizes["compressed.keras"]
    True
    """
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(tflite, (str, pathlib.Path)):
        tflite = (tflite,)
    tflite = [pathlib.Path(path) for path in tflite]
    for path in tflite:
        if not path.is_file():
            raise ValueError(f"size_report: `tflite` file {str(path)!r} does not exist.")

    files = []
    float_path = directory / "float.keras"
    _save(strip(model), float_path, include_optimizer)
    files.append(("float.keras", float_path))
    compressed_path = directory / "compressed.keras"
    _save(model, compressed_path, include_optimizer)
    files.append(("compressed.keras", compressed_path))
    for path in tflite:
        copied = directory / path.name
        if copied.resolve() != path.resolve():
            shutil.copyfile(path, copied)
        files.append((path.name, copied))
    for label, path in list(files):
        gz = path.with_name(path.name + ".gz")
        with open(path, "rb") as source, gzip.open(gz, "wb", compresslevel=9) as target:
            shutil.copyfileobj(source, target)
        files.append((label + ".gz", gz))

    float_bytes = float_path.stat().st_size
    rows = [
        {"format": label, "path": str(path), "bytes": path.stat().st_size,
         "ratio": float_bytes / path.stat().st_size}
        for label, path in files
    ]
    stored, dense = _clustered_bytes(model)
    if stored:
        rows.append({"format": "clustered weights (datasets)", "path": str(compressed_path),
                     "bytes": stored, "ratio": dense / stored, "float_bytes": dense})
    if print_fn is not None:
        _print(rows, print_fn)
    return rows


def _save(model, path, include_optimizer):
    optimizer = getattr(model, "optimizer", None)
    hide = optimizer is not None and not include_optimizer
    with contextlib.ExitStack() as stack:
        if hide:
            model.optimizer = None
            stack.callback(setattr, model, "optimizer", optimizer)
        model.save(path)


class _Store(dict):
    def keys(self):  # what save_own_variables / load_own_variables call
        return list(super().keys())


def _clustered_bytes(model):
    """(bytes the k-means layers write, float32 bytes of their dense weights)."""
    stored = dense = 0
    for _, _, layer in tree.walk(model):
        if not isinstance(layer, clustered.ClusteredLayer):
            continue
        store = _Store()
        layer.save_own_variables(store)
        stored += sum(np.asarray(keras.ops.convert_to_numpy(v)).nbytes for v in store.values())
        dense += sum(
            4 * int(np.prod(v.shape)) for v in layer._ordered_variables()
            if v is not layer.centroids
        )
    return stored, dense


def _print(rows, print_fn):
    width = max(len(row["format"]) for row in rows)
    print_fn("Size report (bytes of files written; ratio: float32 bytes / these bytes)")
    for row in rows:
        versus = "the same matrices in float32" if "float_bytes" in row else "float.keras"
        print_fn(f"{row['format'].ljust(width)}  {row['bytes']:>12,}  "
                 f"x{row['ratio']:<6.2f} vs {versus}  {row['path']}")
