"""Tiny random models of every text family (no presets, no network) for generality tests.

`build(family)` returns `(model, inputs)`: a classifier with 3 classes and a
batch of inputs it takes. Used by tests and by `benchmarks/generality.py`.
"""

import keras
import numpy as np

LENGTH = 8
VOCAB = 1000
HUB = {
    # family: (backbone class, classifier class or None, ALBERT-style embedding_dim)
    "BERT": ("BertBackbone", "BertTextClassifier"),
    "DistilBERT": ("DistilBertBackbone", "DistilBertTextClassifier"),
    "RoBERTa": ("RobertaBackbone", "RobertaTextClassifier"),
    "XLM-RoBERTa": ("XLMRobertaBackbone", "XLMRobertaTextClassifier"),
    "ALBERT": ("AlbertBackbone", "AlbertTextClassifier"),
    "ELECTRA": ("ElectraBackbone", None),
    "DeBERTa-v3": ("DebertaV3Backbone", "DebertaV3TextClassifier"),
    "RoFormer-v2": ("RoformerV2Backbone", "RoformerV2TextClassifier"),
}
FAMILIES = list(HUB) + ["functional transformer", "Sequential MLP", "subclassed model"]


def build(family, seed=0):
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    if family in HUB:
        return _hub(family)
    if family == "functional transformer":
        return functional_transformer(), _token_inputs(with_mask=True)
    if family == "Sequential MLP":
        model = keras.Sequential([
            keras.Input((12,)),
            keras.layers.Dense(24, activation="relu"),
            keras.layers.Dense(12),
            keras.layers.Dense(3),
        ])
        return model, np.random.default_rng(seed).normal(size=(4, 12)).astype("float32")
    if family == "subclassed model":
        model = SubclassedClassifier()
        x = _token_inputs(with_mask=True)
        model(x)
        return model, x
    raise ValueError(f"unknown family {family!r}; one of {FAMILIES}")


def _hub(family):
    import keras_hub

    backbone_name, classifier_name = HUB[family]
    kwargs = dict(vocabulary_size=VOCAB, num_layers=2, num_heads=2, hidden_dim=16,
                  intermediate_dim=32)
    if family in ("ALBERT", "ELECTRA"):
        kwargs["embedding_dim"] = 8
    if family == "ELECTRA":
        kwargs["vocab_size"] = kwargs.pop("vocabulary_size")
    if family == "RoFormer-v2":
        kwargs["head_size"] = 8
    else:
        kwargs["max_sequence_length"] = 16
    if family == "DeBERTa-v3":
        kwargs["bucket_size"] = 8
    backbone = getattr(keras_hub.models, backbone_name)(**kwargs)
    if classifier_name is None:  # ELECTRA: a user's head on the backbone
        inputs = {name: keras.Input((None,), dtype="int32", name=name)
                  for name in ("token_ids", "segment_ids", "padding_mask")}
        pooled = backbone(inputs)["pooled_output"]
        model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(pooled))
    else:
        model = getattr(keras_hub.models, classifier_name)(
            backbone=backbone, num_classes=3, preprocessor=None)
    names = [i.name for i in keras.tree.flatten(backbone.inputs)]
    x = {k: v for k, v in _token_inputs(with_mask=True).items() if k in names}
    model(x)
    return model, x


def _token_inputs(with_mask, batch=4):
    rng = np.random.default_rng(0)
    mask = np.ones((batch, LENGTH), "int32")
    mask[0, LENGTH // 2:] = 0
    x = {"token_ids": rng.integers(1, VOCAB, (batch, LENGTH)).astype("int32"),
         "segment_ids": np.zeros((batch, LENGTH), "int32")}
    if with_mask:
        x["padding_mask"] = mask
    return x


def functional_transformer(length=LENGTH, hidden=16, heads=2, ffn=32):
    """A user's own transformer: masked MultiHeadAttention and a Dense(relu) -> Dense FFN."""
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    segment_ids = keras.Input((None,), dtype="int32", name="segment_ids")
    padding_mask = keras.Input((None,), dtype="int32", name="padding_mask")
    h = keras.layers.Embedding(VOCAB, hidden, name="tokens")(token_ids)
    h = h + keras.layers.Embedding(2, hidden, name="segments")(segment_ids)
    mask = keras.ops.cast(padding_mask, "bool")
    attention_mask = keras.ops.logical_and(mask[:, None, :], mask[:, :, None])
    for i in range(2):
        a = keras.layers.MultiHeadAttention(heads, hidden // heads, name=f"attention_{i}")(
            h, h, attention_mask=attention_mask)
        h = keras.layers.LayerNormalization(name=f"norm_a{i}")(h + a)
        f = keras.layers.Dense(ffn, activation="relu", name=f"ffn_up_{i}")(h)
        f = keras.layers.Dense(hidden, name=f"ffn_down_{i}")(f)
        h = keras.layers.LayerNormalization(name=f"norm_f{i}")(h + f)
    pooled = keras.layers.GlobalAveragePooling1D()(h, mask=mask)
    inputs = {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(pooled))


class SubclassedClassifier(keras.Model):
    """An unregistered subclassed token classifier with auto-named layers and an FFN in `call`."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.embedding = keras.layers.Embedding(VOCAB, 12)
        self.up = keras.layers.Dense(24, activation="relu")
        self.down = keras.layers.Dense(12)
        self.head = keras.layers.Dense(3)

    def call(self, inputs):
        h = self.embedding(inputs["token_ids"])
        h = h + self.down(self.up(h))
        mask = keras.ops.expand_dims(keras.ops.cast(inputs["padding_mask"], h.dtype), -1)
        pooled = keras.ops.sum(h * mask, axis=1) / keras.ops.maximum(
            keras.ops.sum(mask, axis=1), 1.0)
        return self.head(pooled)
