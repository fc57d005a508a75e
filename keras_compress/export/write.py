"""Step 5 of `to_tflite`: the files, written all or nothing, never over a user's file.

An export is three things beside each other: `<path>` (the `.tflite`),
`<path>.json` (metadata and report) and `<path>.tokenizer/`. `check_target`
refuses, before any work, a path that would destroy something else;
`write_export` writes all of them under temporary names in the same folder
and renames them into place at the end, putting back what was there if a
rename fails.
"""

import os
import pathlib
import shutil
import warnings

from keras_compress import files
from keras_compress.export import tokens
from keras_compress.export.metadata import is_export_metadata, metadata_path, metadata_text

# A TFLite flatbuffer carries this file identifier at bytes 4..8.
TFLITE_IDENTIFIER = b"TFL3"


def is_tflite_file(path):
    """Whether `path` is a file holding a TFLite flatbuffer."""
    try:
        with open(path, "rb") as file:
            return file.read(8)[4:8] == TFLITE_IDENTIFIER
    except OSError:
        return False


def check_target(path, overwrite=False):
    """`path` as a `pathlib.Path`, checked so that writing there destroys nothing.

    Without `overwrite`, refuses a path that does not end in `.tflite`, an
    existing file that is not a TFLite file, a `<path>.json` that `to_tflite`
    did not write and a `<path>.tokenizer` that is not a saved tokenizer.
    A folder is always refused.

    Example:

    >>> check_target("model.keras")
    Traceback (most recent call last):
    ...
    ValueError: `path` must end in .tflite; received 'model.keras'. Pass overwrite=True to write a TFLite file under this name anyway.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a str or a path; received {type(path).__name__}.")
    path = pathlib.Path(path)
    companions = {metadata_path(path): "metadata", tokens.tokenizer_dir(path): "tokenizer"}
    if path.is_dir() or metadata_path(path).is_dir():
        raise IsADirectoryError(f"`path` {str(path)!r}: a folder is in the way; pass a file path.")
    if overwrite:
        return path
    hint = "Pass overwrite=True to replace it."
    if path.suffix != ".tflite":
        raise ValueError(
            f"`path` must end in .tflite; received {str(path)!r}. Pass overwrite=True to "
            "write a TFLite file under this name anyway."
        )
    if path.exists() and not is_tflite_file(path):
        raise FileExistsError(f"`path` {str(path)!r} exists and is not a TFLite file. {hint}")
    for companion, kind in companions.items():
        ours = (
            is_export_metadata(companion) if kind == "metadata"
            else (companion / "tokenizer.json").is_file()
        )
        if companion.exists() and not ours:
            raise FileExistsError(
                f"`path` {str(path)!r}: {str(companion)!r} exists and is not to_tflite's "
                f"{kind}. {hint}"
            )
    return path


def write_export(path, content, metadata, tokenizer=None):
    """Writes `<path>`, `<path>.json` and (for a tokenizer) `<path>.tokenizer/`.

    All three are written under temporary names in `path`'s folder, then renamed into
    place (`keras_compress.files.staged`); on any error nothing new is left and what was
    there before is put back. Returns the metadata written (with `"tokenizer"`, the
    folder's name or `None` when the tokenizer could not be saved).
    """
    path = pathlib.Path(path)
    with files.staged(path.parent) as stage:
        stage.path(path).write_bytes(content)
        saved = _save_tokenizer(tokenizer, stage.path(tokens.tokenizer_dir(path)), path)
        metadata = metadata | {"tokenizer": tokens.tokenizer_dir(path).name if saved else None}
        stage.path(metadata_path(path)).write_text(metadata_text(metadata), encoding="utf-8")
    return metadata


def _save_tokenizer(tokenizer, directory, path):
    """Saves `tokenizer` into `directory`; False (with a warning) when it cannot be saved."""
    if tokenizer is None:
        return False
    try:
        tokens.save_tokenizer(tokenizer, directory)
    except Exception as error:  # e.g. a tokenizer that keras-hub cannot save
        warnings.warn(
            f"to_tflite: the tokenizer was not saved beside {path} ({error}); pass it to "
            "TFLiteClassifier(path, tokenizer=...) to run text.",
            stacklevel=4,
        )
        shutil.rmtree(directory, ignore_errors=True)
        return False
    return True
