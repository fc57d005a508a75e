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
import tempfile
import warnings

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

    All three are written under temporary names in `path`'s folder, then
    renamed into place; on any error nothing new is left and what was there
    before is put back. Returns the metadata written (with `"tokenizer"`,
    the folder's name or `None` when the tokenizer could not be saved).
    """
    path = pathlib.Path(path)
    created = _make_parents(path.parent)
    try:
        stage = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except BaseException:
        _remove_empty(created)
        raise
    try:
        (stage / "model.tflite").write_bytes(content)
        moves = [(stage / "model.tflite", path)]
        saved = _save_tokenizer(tokenizer, stage / "tokenizer", path)
        if saved:
            moves.append((stage / "tokenizer", tokens.tokenizer_dir(path)))
        metadata = metadata | {"tokenizer": tokens.tokenizer_dir(path).name if saved else None}
        (stage / "metadata.json").write_text(metadata_text(metadata), encoding="utf-8")
        moves.append((stage / "metadata.json", metadata_path(path)))
        _move_all(moves, stage)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        _remove_empty(created)
        raise
    shutil.rmtree(stage, ignore_errors=True)
    return metadata


def _move_all(moves, stage):
    """Renames each `(source, target)`; on a failure, undoes the ones done."""
    done, backups = [], []
    try:
        for index, (source, target) in enumerate(moves):
            if target.exists():
                backup = stage / f"previous-{index}"
                _move(target, backup)
                backups.append((backup, target))
            _move(source, target)
            done.append(target)
    except BaseException:
        for target in done:
            _remove(target)
        for backup, target in reversed(backups):
            os.replace(backup, target)
        raise


def _move(source, target):
    os.replace(source, target)


def _remove(target):
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()


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


def _make_parents(folder):
    """Creates `folder` and missing parents; returns the ones created, deepest last."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        created.mkdir()
    return list(reversed(missing))


def _remove_empty(folders):
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return
