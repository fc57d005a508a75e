"""Classification metrics reported throughout: accuracy and macro-F1."""

import numpy as np


def accuracy(y_true, y_pred):
    """Fraction of predictions equal to the labels."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_true == y_pred))


def macro_f1(y_true, y_pred, labels=None):
    """Unweighted mean of per-class F1 over `labels` (default: classes in `y_true`).

    A class with no true and no predicted examples is left out; one that is
    predicted but never true (or the reverse) counts with F1 = 0.

    Example:

    >>> macro_f1([0, 0, 1, 1], [0, 1, 1, 1])
    0.7333333333333334
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = np.unique(y_true) if labels is None else np.asarray(labels)
    scores = []
    for label in labels:
        true_pos = np.sum((y_true == label) & (y_pred == label))
        predicted = np.sum(y_pred == label)
        actual = np.sum(y_true == label)
        if predicted == 0 and actual == 0:
            continue
        scores.append(2 * true_pos / (predicted + actual))
    return float(np.mean(scores)) if scores else 0.0
