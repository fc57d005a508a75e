"""Scoring a text classifier on labelled intent data."""

import numpy as np

from keras_compress import metrics


def predict_labels(model, texts, batch_size=64, verbose=0):
    """Argmax class index per text for a classifier with its own preprocessor
    (`verbose=1`: a Keras progress bar)."""
    logits = model.predict(list(texts), batch_size=batch_size, verbose=verbose)
    return np.argmax(logits, axis=-1)


def evaluate(model, texts, labels, batch_size=64, verbose=0):
    """Returns `{"macro_f1": ..., "accuracy": ...}` of `model` on `(texts, labels)`.

    `labels` are class indices; macro-F1 averages over the classes present in
    `labels`.
    """
    predicted = predict_labels(model, texts, batch_size, verbose)
    return {
        "macro_f1": metrics.macro_f1(labels, predicted),
        "accuracy": metrics.accuracy(labels, predicted),
    }
