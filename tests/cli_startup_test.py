"""`keras-compress --help` starts without TensorFlow, and commands print no TensorFlow logs."""

import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest


def console_script():
    script = pathlib.Path(sys.executable).parent / "keras-compress"
    if not script.is_file():
        script = shutil.which("keras-compress")
    assert script, "keras-compress is not installed: pip install -e . --no-deps"
    return str(script)


def run_timed(argv):
    environment = {**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).parents[1])}
    begin = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=environment)
    return result, time.perf_counter() - begin


def imported_modules(importtime_stderr):
    """The module names of a `python -X importtime` log."""
    return {line.rsplit("|", 1)[1].strip() for line in importtime_stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


@pytest.mark.parametrize("argv", [["--help"], ["inspect", "--help"], ["export", "--help"],
                                  ["bench", "--help"], ["--version"]])
def test_help_imports_neither_tensorflow_nor_keras(argv):
    result, _ = run_timed([sys.executable, "-X", "importtime", console_script(), *argv])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage: keras-compress" in result.stdout or "keras-compress " in result.stdout
    modules = imported_modules(result.stderr)
    assert "keras_compress.cli" in modules  # the log is real
    heavy = sorted(m for m in modules if m.split(".")[0] in ("tensorflow", "keras", "numpy"))
    assert not heavy, heavy[:10]


def test_an_option_error_answers_without_tensorflow(tmp_path):
    result, _ = run_timed([sys.executable, "-X", "importtime", console_script(), "inspect",
                           str(tmp_path / "missing.keras")])
    assert result.returncode == 2 and "no such file" in result.stderr
    assert not any(m.startswith("tensorflow") for m in imported_modules(result.stderr))


def test_help_is_faster_than_importing_keras():
    """Both measured in this run, on this machine; printed with `pytest -s`."""
    help_seconds = min(run_timed([console_script(), "--help"])[1] for _ in range(3))
    keras_result, keras_seconds = run_timed([sys.executable, "-c", "import keras"])
    assert keras_result.returncode == 0
    print(f"\nkeras-compress --help: {help_seconds:.2f} s; python -c 'import keras': "
          f"{keras_seconds:.2f} s")
    assert help_seconds < keras_seconds / 3


def test_a_command_prints_no_tensorflow_start_up_lines(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text('{"text": "hi", "intent": "greet"}\n', encoding="utf-8")
    (tmp_path / "m.tflite").write_bytes(b"not a flatbuffer" * 8)
    environment = {key: value for key, value in os.environ.items()
                   if key != "TF_CPP_MIN_LOG_LEVEL"}
    environment["PYTHONPATH"] = str(pathlib.Path(__file__).parents[1])
    result = subprocess.run([console_script(), "bench", str(tmp_path / "m.tflite"), "--data",
                             str(data)], capture_output=True, text=True, timeout=300,
                            env=environment)
    assert result.returncode == 1
    # Only the command's own one-line error: no absl/C++ log lines from loading TensorFlow.
    assert result.stderr.strip().splitlines() == [
        line for line in result.stderr.strip().splitlines() if line.startswith("keras-compress")
    ], result.stderr
    assert "absl" not in result.stderr and "cuda" not in result.stderr.lower()
