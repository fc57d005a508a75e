"""`size_report`: every size is a file that was written."""

import functools
import gzip
import pathlib

import keras
import numpy as np
import pytest

import keras_compress
from keras_compress.layers import KMeansDense
from keras_compress.size_report import size_report


def clustered_model(n_clusters=4):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((384,)), keras.layers.Dense(1536, name="big"),
                              keras.layers.Dense(2, name="head")])
    model.compile("adam", "mse")
    keras_compress.swap_layers(model, {keras.layers.Dense: functools.partial(
        KMeansDense.from_layer, n_clusters=n_clusters)})
    model.compile("adam", "mse")
    model.fit(np.ones((4, 384)), np.ones((4, 2)), verbose=0)
    return model


def test_sizes_are_those_of_the_files_written(tmp_path):
    model = clustered_model()
    tflite = tmp_path / "given" / "model.tflite"
    tflite.parent.mkdir()
    tflite.write_bytes(bytes(1000) + b"not really a model")
    rows = size_report(model, tmp_path / "report", tflite=tflite, print_fn=None)
    by = {row["format"]: row for row in rows}
    assert set(by) == {"float.keras", "compressed.keras", "model.tflite", "float.keras.gz",
                       "compressed.keras.gz", "model.tflite.gz", "clustered weights (datasets)"}
    for name, row in by.items():
        if name != "clustered weights (datasets)":
            assert pathlib.Path(row["path"]).stat().st_size == row["bytes"], name
    with gzip.open(by["model.tflite.gz"]["path"]) as unzipped:
        assert unzipped.read() == tflite.read_bytes()
    # 2-bit indices: the clustered matrix takes 1/16 of its float32 bytes (plus the bias).
    matrices = by["clustered weights (datasets)"]
    assert matrices["float_bytes"] == 4 * (384 * 1536 + 1536)
    assert matrices["bytes"] == 384 * 1536 * 2 // 8 + 4 * 4 + 4 * 1536
    assert by["float.keras"]["bytes"] > 12 * by["compressed.keras"]["bytes"]
    # No optimizer state in the files by default; the compressed file loads back.
    loaded = keras.saving.load_model(by["compressed.keras"]["path"])
    x = np.random.default_rng(0).normal(size=(2, 384)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    assert model.optimizer is not None  # restored after saving


def test_optimizer_state_can_be_included(tmp_path):
    model = clustered_model()
    without = size_report(model, tmp_path / "a", print_fn=None)[1]["bytes"]
    with_state = size_report(model, tmp_path / "b", include_optimizer=True, print_fn=None)[1]["bytes"]
    assert with_state > without


def test_missing_tflite_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="`tflite` file '.*nothing.tflite' does not exist"):
        size_report(clustered_model(), tmp_path, tflite=tmp_path / "nothing.tflite", print_fn=None)


def test_old_clustering_size_report_path_warns_and_still_works():
    import keras_compress.clustering
    from keras_compress import size_report as module

    with pytest.warns(DeprecationWarning, match="keras_compress.size_report"):
        assert keras_compress.clustering.size_report is module.size_report
