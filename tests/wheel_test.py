"""The built wheel installs into a fresh virtual environment and imports."""

import pathlib
import site
import subprocess
import sys
import venv

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.wheel
def test_wheel_installs_into_a_fresh_venv_and_imports(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(ROOT)],
        check=True, timeout=600,
    )
    (wheel,) = wheels.glob("keras_compress-*.whl")

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # Dependencies (TensorFlow, Keras, keras-hub) come from this environment so
    # that the test needs no download; keras_compress itself only from the wheel.
    target_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    deps = [p for p in site.getsitepackages() if "site-packages" in p]
    (pathlib.Path(target_site) / "zz_deps.pth").write_text("\n".join(deps) + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)],
        check=True, timeout=600,
    )
    check = (
        "import keras_compress, keras_compress.layers as L;"
        "print(keras_compress.__file__);"
        "print(sorted(n for n in dir(L) if not n.startswith('_')))"
    )
    result = subprocess.run(
        [str(python), "-c", check], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert str(env_dir) in result.stdout.splitlines()[0]  # not the source checkout
    for name in ("KMeansDense", "MaskedDense", "MaskedEinsumDense", "PrunableAttention",
                 "QuantizedDense"):
        assert name in result.stdout
