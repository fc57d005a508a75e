"""The keyword arguments `to_tflite` took before `ExportConfig` and `Parity` (deprecated).

`to_tflite(model, path, "dynamic", sequence_lengths=(16,), parity_data=texts)`
still works for one release, with a `DeprecationWarning` that shows the new
spelling: `to_tflite(model, path, ExportConfig("dynamic", sequence_lengths=(16,)),
parity=Parity.for_quantization("dynamic", data=texts))`.
"""

import dataclasses
import warnings

from keras_compress.export.config import ExportConfig, Parity

CONFIG_KEYWORDS = ("quantization", "representative_data", "sequence_lengths", "batch_size",
                   "io_type", "allow_float_ops")
PARITY_KEYWORDS = {"parity_data": "data", "atol": "atol", "min_agreement": "min_agreement"}
# Latency left to_tflite: these are accepted and ignored.
IGNORED_KEYWORDS = ("latency_runs", "threads")


def resolve(config, parity, legacy):
    """`(config, parity)` for `to_tflite`: the new arguments, or the old keywords mapped.

    `config` may still be a quantization string (the old third positional
    argument). `None` gives `ExportConfig()` and the tolerances of its
    quantization (`Parity.for_quantization`).
    """
    unknown = sorted(set(legacy) - {*CONFIG_KEYWORDS, *PARITY_KEYWORDS, *IGNORED_KEYWORDS})
    if unknown:
        raise TypeError(
            f"to_tflite() got unexpected keyword arguments {unknown}; it takes config="
            "ExportConfig(...), parity=Parity(...), label_names, overwrite and verbose."
        )
    if isinstance(config, str) or (config is None and "quantization" in legacy):
        if isinstance(config, str) and "quantization" in legacy:
            raise TypeError("to_tflite() got the quantization twice (positionally and by name).")
        legacy = {"quantization": legacy.pop("quantization", config), **legacy}
        config = None
    config_fields = {key: legacy[key] for key in CONFIG_KEYWORDS if key in legacy}
    parity_fields = {
        PARITY_KEYWORDS[key]: legacy[key] for key in PARITY_KEYWORDS
        if key in legacy and not (isinstance(legacy[key], str) and legacy[key] == "default")
    }
    if config is not None and config_fields:
        raise TypeError(
            f"to_tflite(): pass either config=ExportConfig(...) or the old keywords "
            f"{sorted(config_fields)}, not both."
        )
    if parity is not None and parity_fields:
        raise TypeError(
            f"to_tflite(): pass either parity=Parity(...) or the old keywords "
            f"{sorted(k for k in legacy if k in PARITY_KEYWORDS)}, not both."
        )
    if legacy:
        _warn(legacy)
    if config is None:
        config = ExportConfig(**config_fields)
    if parity is None and isinstance(config, ExportConfig):
        parity = dataclasses.replace(Parity.for_quantization(config.quantization),
                                     **parity_fields)
    return config, parity


def _warn(legacy):
    ignored = [key for key in IGNORED_KEYWORDS if key in legacy]
    moved = [key for key in legacy if key not in IGNORED_KEYWORDS]
    parts = []
    if moved:
        parts.append(
            f"{', '.join(moved)} now go in config=ExportConfig(...) and "
            "parity=Parity(data=..., atol=..., min_agreement=...)"
        )
    if ignored:
        parts.append(
            f"{', '.join(ignored)} are ignored: to_tflite no longer times the model; time the "
            "file with keras_compress.bench or `keras-compress bench`"
        )
    warnings.warn(
        "to_tflite: the old keyword arguments are deprecated and will be removed in the next "
        "release: " + "; ".join(parts) + ".",
        DeprecationWarning,
        stacklevel=4,
    )
