"""The JSON file written beside a `.tflite`: what the runner needs, and the export report.

`model.tflite` gets `model.tflite.json`:

```
{"format": "keras_compress.tflite", "version": 1,
 "signatures": {"16": "seq_16", "32": "seq_32"},   # bucket length -> signature key
 "sequence_lengths": [16, 32], "batch_size": 1,     # null: any batch size
 "inputs": ["padding_mask", "segment_ids", "token_ids"], "output": "logits",
 "output_kind": "logits",                           # or "probabilities"
 "label_names": ["greet", ...] or null, "quantization": "dynamic",
 "report": {...}}                                   # see ExportReport.to_dict
```
"""

import json
import pathlib

FORMAT = "keras_compress.tflite"
VERSION = 1


def metadata_path(path):
    """`model.tflite` -> `model.tflite.json`."""
    path = pathlib.Path(path)
    return path.with_name(path.name + ".json")


def metadata_text(metadata):
    """The metadata file's text for `metadata` (format and version added)."""
    return json.dumps({"format": FORMAT, "version": VERSION, **metadata}, indent=2) + "\n"


def write_metadata(path, metadata):
    """Writes `metadata` beside the `.tflite` at `path`."""
    metadata_path(path).write_text(metadata_text(metadata), encoding="utf-8")


def is_export_metadata(meta_file):
    """Whether `meta_file` is metadata that `to_tflite` wrote (safe to replace)."""
    try:
        return json.loads(pathlib.Path(meta_file).read_text("utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def read_metadata(path):
    """Reads the metadata beside the `.tflite` at `path`; clear errors if absent or corrupt.

    A file that is not JSON raises `json.JSONDecodeError` (a `ValueError`)
    whose message names the file.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"TFLite model not found: {path}")
    meta_file = metadata_path(path)
    if not meta_file.is_file():
        raise FileNotFoundError(
            f"{meta_file} not found: TFLiteClassifier reads the bucket lengths and label "
            "names that keras_compress.export.to_tflite writes beside the .tflite."
        )
    try:
        metadata = json.loads(meta_file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"{meta_file} is not a text file ({error}); export again.") from None
    except json.JSONDecodeError as error:
        raise json.JSONDecodeError(
            f"{meta_file} is not valid JSON; export again to rewrite it ({error.msg})",
            error.doc, error.pos,
        ) from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT or (
        metadata.get("version") != VERSION
    ):
        found = metadata if not isinstance(metadata, dict) else {
            key: metadata.get(key) for key in ("format", "version")}
        raise ValueError(f"{meta_file} is not {FORMAT} metadata version {VERSION} ({found!r}).")
    return metadata
