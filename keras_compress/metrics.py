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


def paired_bootstrap(y_true, y_a, y_b, *, metric=macro_f1, resamples=1000, seed=0):
    """`(difference, low, high)`: `metric(a) - metric(b)` on the messages, and its 95%
    interval over `resamples` bootstrap resamples of the messages (the same resample
    for both predictions: paired). Test-sample noise only, not training-seed noise.

    Example:

    >>> y = [0, 1] * 50
    >>> difference, low, high = paired_bootstrap(y, y, [0] * 100, resamples=200)
    >>> round(difference, 3), low < difference < high
    (0.667, True)
    """
    y_true, y_a, y_b = (np.asarray(v) for v in (y_true, y_a, y_b))
    if not len(y_true) == len(y_a) == len(y_b) or not len(y_true):
        raise ValueError("paired_bootstrap: `y_true`, `y_a` and `y_b` must be non-empty and "
                         f"of one length; received {len(y_true)}, {len(y_a)}, {len(y_b)}.")
    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(resamples):
        rows = rng.integers(0, len(y_true), len(y_true))
        differences.append(metric(y_true[rows], y_a[rows]) - metric(y_true[rows], y_b[rows]))
    low, high = np.percentile(differences, [2.5, 97.5])
    return metric(y_true, y_a) - metric(y_true, y_b), float(low), float(high)
