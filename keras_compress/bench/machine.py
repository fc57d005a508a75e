"""`machine()`: where and with what a measurement ran (CPU, load, versions, UTC date)."""

import datetime
import importlib.metadata
import os
import pathlib
import platform

# Distribution name -> key in machine()'s dict.
PACKAGES = {"tensorflow": "tensorflow", "keras": "keras", "keras-hub": "keras_hub",
            "ai-edge-litert": "ai_edge_litert"}


def machine(packages=()):
    """A JSON-able description of this machine and the library versions.

    Keys: `cpu` (model name), `cores`, `load_average` (1, 5, 15 min), `platform`,
    `python`, `tensorflow`, `keras`, `keras_hub`, `ai_edge_litert` (installed versions,
    `None` when missing; read from the package metadata, nothing is imported), `date`
    (UTC, ISO 8601, seconds). `packages`: more distribution names to report (for example
    `("onnxruntime",)`), keyed with `-` turned into `_`.

    Example:

    >>> info = machine()
    >>> info["cores"] == os.cpu_count() and "keras_hub" in info
    True
    """
    info = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    for distribution in (*PACKAGES, *packages):
        key = PACKAGES.get(distribution, distribution.replace("-", "_").replace(".", "_"))
        info[key] = _version(distribution)
    info["date"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return info


def machine_line(info=None):
    """`machine()` (or `info`) as one line for a report's header.

    Example:

    >>> line = machine_line({"cpu": "Xeon", "cores": 2, "load_average": [1.0, 0.5, 0.2],
    ...                      "python": "3.11.9", "tensorflow": "2.21.0", "date": "2026-11-28"})
    >>> line
    'Xeon, 2 cores, load 1.00/0.50/0.20, Python 3.11.9, tensorflow 2.21.0, 2026-11-28'
    """
    info = machine() if info is None else info
    parts = [f"{info.get('cpu')}, {info.get('cores')} cores",
             "load " + "/".join(f"{x:.2f}" for x in info.get("load_average", ()))]
    if info.get("python"):
        parts.append(f"Python {info['python']}")
    versions = [f"{key} {value}" for key, value in info.items()
                if key not in ("cpu", "cores", "load_average", "platform", "python", "date")
                and value]
    return ", ".join(parts + versions + [str(info.get("date", ""))])


def _version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model():
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
