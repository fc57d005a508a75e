"""The documentation site: `mkdocs build --strict` (offline) and the generated API page."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_docs_site_builds_in_strict_mode_with_the_api_reference(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[dev]')")
    pytest.importorskip("mkdocstrings", reason="mkdocstrings is not installed")
    site = tmp_path / "site"
    env = dict(os.environ, HF_HUB_OFFLINE="1", NO_MKDOCS_2_WARNING="1")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    for page in ("getting-started", "study-2019", "pruning", "export", "benchmarks", "api"):
        assert (site / page / "index.html").is_file(), page
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    # Docstrings of the public API, rendered: a class, a callback, a function, a module.
    assert "Removes whole FFN intermediate neurons (output units) of transformer layers." in api
    for name in ("keras_compress.layers.MaskedDense", "keras_compress.callbacks.HeadPruning",
                 "keras_compress.export.to_tflite", "keras_compress.data.load_splits"):
        assert f'id="{name}"' in api, name
    # Doctest examples are rendered as code, not as block quotes.
    assert "&gt;&gt;&gt;" in api and "<blockquote>" not in api


def test_doctest_blocks_are_fenced():
    spec = importlib.util.spec_from_file_location("griffe_doctests",
                                                  ROOT / "docs" / "griffe_doctests.py")
    if importlib.util.find_spec("griffe") is None:
        pytest.skip("griffe (mkdocstrings[python]) is not installed")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = "Example:\n\n>>> f([1])\n[0.5]\n\nMore.\n\n    >>> indented\n```\n>>> fenced\n```"
    assert module.fence_doctests(text) == (
        "Example:\n\n```pycon\n>>> f([1])\n[0.5]\n```\n\nMore.\n\n    >>> indented\n"
        "```\n>>> fenced\n```"
    )
