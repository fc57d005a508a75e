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


def write_metadata(path, metadata):
    """Writes `metadata` beside the `.tflite` at `path`."""
    text = json.dumps({"format": FORMAT, "version": VERSION, **metadata}, indent=2)
    metadata_path(path).write_text(text + "\n", encoding="utf-8")


def read_metadata(path):
    """Reads the metadata beside the `.tflite` at `path`; clear errors if absent."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"TFLite model not found: {path}")
    meta_file = metadata_path(path)
    if not meta_file.is_file():
        raise FileNotFoundError(
            f"{meta_file} not found: TFLiteClassifier reads the bucket lengths and label "
            "names that keras_compress.export.to_tflite writes beside the .tflite."
        )
    metadata = json.loads(meta_file.read_text(encoding="utf-8"))
    if metadata.get("format") != FORMAT or metadata.get("version") != VERSION:
        raise ValueError(
            f"{meta_file} is not {FORMAT} metadata version {VERSION} "
            f"(format={metadata.get('format')!r}, version={metadata.get('version')!r})."
        )
    return metadata
