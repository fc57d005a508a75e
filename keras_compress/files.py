"""Writing files all or nothing: the one writer behind every file the package leaves.

`staged(folder)` hands out temporary paths in `folder` (the same file system, so
a rename is atomic) for the files a job means to leave; when the block ends
without an error they are renamed onto their targets, and if one rename fails
the ones done are undone and what was there before is put back. On an error
inside the block nothing new is left. Imports nothing from `keras_compress`.

Example:

>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with staged(folder) as stage:
...     _ = stage.path(folder / "a.txt").write_text("a")
...     _ = stage.path(folder / "b.txt").write_text("b")
>>> sorted(p.name for p in folder.iterdir())
['a.txt', 'b.txt']
>>> try:
...     with staged(folder) as stage:
...         _ = stage.path(folder / "a.txt").write_text("new")
...         raise RuntimeError("the job failed")
... except RuntimeError:
...     pass
>>> (folder / "a.txt").read_text(), sorted(p.name for p in folder.iterdir())
('a', ['a.txt', 'b.txt'])
"""

import contextlib
import os
import pathlib
import shutil
import tempfile


class Stage:
    """Temporary paths for targets; see `staged`."""

    def __init__(self, directory):
        self._directory = directory
        self._moves = []

    def path(self, target):
        """A fresh temporary path that becomes `target` at the end (a file or a folder)."""
        staged_path = self._directory / f"{len(self._moves)}-{pathlib.Path(target).name}"
        self._moves.append((staged_path, pathlib.Path(target)))
        return staged_path

    def _commit(self):
        """Renames every staged path that exists onto its target; undoes all on a failure."""
        done, backups = [], []
        try:
            for index, (source, target) in enumerate(self._moves):
                if not source.exists():
                    continue
                if target.exists():
                    backup = self._directory / f"previous-{index}"
                    os.replace(target, backup)
                    backups.append((backup, target))
                _move(source, target)
                done.append(target)
        except BaseException:
            for target in done:
                _remove(target)
            for backup, target in reversed(backups):
                os.replace(backup, target)
            raise


@contextlib.contextmanager
def staged(folder):
    """Yields a `Stage` whose paths land on their targets when the block succeeds.

    `folder` (created with missing parents, which are removed again on an error) holds
    the temporary paths and must be on the targets' file system. Targets are replaced
    when they exist: check first that replacing them is allowed.
    """
    folder = pathlib.Path(folder)
    created = make_parents(folder)
    try:
        directory = pathlib.Path(tempfile.mkdtemp(prefix=".staged-", dir=folder))
    except BaseException:
        remove_empty(created)
        raise
    try:
        stage = Stage(directory)
        yield stage
        stage._commit()
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        remove_empty(created)
        raise
    shutil.rmtree(directory, ignore_errors=True)


def write_new(path, text, what="file"):
    """Writes `text` to `path` all or nothing, refusing a `path` that exists.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.json"
    >>> write_new(path, "{}")
    >>> write_new(path, "{}")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileExistsError: ... exists; choose another name.
    """
    path = pathlib.Path(path)
    if path.exists():
        raise FileExistsError(f"{what} {str(path)!r} exists; choose another name.")
    with staged(path.parent) as stage:
        stage.path(path).write_text(text, encoding="utf-8")


def make_parents(folder):
    """Creates `folder` and missing parents; returns the ones created, deepest last."""
    folder = pathlib.Path(folder)
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        created.mkdir()
    return list(reversed(missing))


def remove_empty(folders):
    """Removes `folders` (from `make_parents`), deepest first, while they are empty."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return


def _move(source, target):
    os.replace(source, target)


def _remove(target):
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()
