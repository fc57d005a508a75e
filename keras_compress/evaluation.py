"""Scoring a text classifier on labelled intent data."""

import numpy as np

from keras_compress import metrics


def predict_labels(model, texts, batch_size=64):
    """Argmax class index per text for a classifier with its own preprocessor."""
    logits = model.predict(list(texts), batch_size=batch_size, verbose=0)
    return np.argmax(logits, axis=-1)


def evaluate(model, texts, labels, batch_size=64):
    """Returns `{"macro_f1": ..., "accuracy": ...}` of `model` on `(texts, labels)`.

    `labels` are class indices; macro-F1 averages over the classes present in
    `labels`.
    """
    predicted = predict_labels(model, texts, batch_size)
    return {
        "macro_f1": metrics.macro_f1(labels, predicted),
        "accuracy": metrics.accuracy(labels, predicted),
    }
