"""Distilling from cached teacher logits with plain `compile` / `fit`.

The teacher runs once over the training data (`cache_teacher_logits`); its
logits travel with the hard labels in `y` (`pack_targets`), and the student
trains with `DistillationLoss` like any Keras model: no teacher forward pass
per step, no custom training loop.

`y` is one float array of shape `(samples, 1 + classes)`: column 0 holds the
hard label (a class index), columns 1: the teacher's logits. A single array
(rather than a dict) works with every `fit` input (NumPy, lists of texts
through a keras-hub preprocessor, `tf.data`), with `sample_weight`, and with
the pruning callbacks' importance scores, which reuse the compiled loss.
"""

import keras
import numpy as np
from keras import ops

from keras_compress import checks


@keras.saving.register_keras_serializable(package="keras_compress")
class DistillationLoss(keras.losses.Loss):
    """Soft-target KL divergence (scaled by T^2) mixed with the hard-label loss.

    Per sample, with teacher logits `t`, student logits `s` and hard label `c`:

        alpha * T^2 * KL(softmax(t / T) || softmax(s / T))
            + (1 - alpha) * cross_entropy(c, softmax(s))

    (Hinton et al. 2015). This is the loss of `keras.distillation.Distiller`
    with `LogitsDistillation(temperature=T)` and `student_loss_weight=1 -
    alpha`, computed from logits cached once instead of a teacher forward pass
    per step, and per sample (so `sample_weight` and the Keras reductions
    apply).

    `y_true` packs the hard label and the teacher's logits in one row:
    `[label, logit_0, ..., logit_{C-1}]` (see `pack_targets`); `y_pred` is the
    student's logits (`from_logits` is implied).

    Args:
        temperature: softening temperature `T > 0` of both softmaxes in the
            KL term.
        alpha: weight of the soft (teacher) term, in `[0, 1]`; `1 - alpha`
            weighs the hard-label cross-entropy.

    Example:

    >>> import numpy as np
    >>> from keras_compress.distillation import DistillationLoss, pack_targets
    >>> y = pack_targets([0, 1], np.array([[2.0, 0.0], [0.0, 2.0]]))
    >>> loss = DistillationLoss(temperature=2.0, alpha=1.0)
    >>> float(loss(y, np.array([[2.0, 0.0], [0.0, 2.0]])))  # student == teacher
    0.0
    """

    def __init__(self, temperature=2.0, alpha=0.5, reduction="sum_over_batch_size",
                 name="distillation_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not checks.is_number(temperature) or not (
            temperature > 0
        ):
            raise ValueError(
                f"DistillationLoss: `temperature` must be a number > 0; received {temperature!r}."
            )
        if not checks.is_number(alpha) or not 0 <= alpha <= 1:
            raise ValueError(
                f"DistillationLoss: `alpha` must be a number in [0, 1] (the weight of the "
                f"teacher term); received {alpha!r}."
            )
        self.temperature = float(temperature)
        self.alpha = float(alpha)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.cast(y_true, y_pred.dtype)
        classes = y_pred.shape[-1]
        if y_true.shape[-1] is not None and classes is not None and y_true.shape[-1] != classes + 1:
            raise ValueError(
                f"DistillationLoss: `y_true` must have 1 + {classes} columns (the hard label, "
                f"then the teacher's {classes} logits; see pack_targets) for a student with "
                f"{classes} classes; received y_true with {y_true.shape[-1]} columns."
            )
        labels, teacher = y_true[..., 0], y_true[..., 1:]
        loss = 0.0
        if self.alpha > 0:
            t = self.temperature
            teacher_log_p = ops.log_softmax(teacher / t, axis=-1)
            student_log_p = ops.log_softmax(y_pred / t, axis=-1)
            kl = ops.sum(ops.exp(teacher_log_p) * (teacher_log_p - student_log_p), axis=-1)
            loss = self.alpha * t * t * kl
        if self.alpha < 1:
            hard = keras.losses.sparse_categorical_crossentropy(
                ops.cast(labels, "int32"), y_pred, from_logits=True
            )
            loss = loss + (1.0 - self.alpha) * hard
        return loss

    def get_config(self):
        config = super().get_config()
        config.update(temperature=self.temperature, alpha=self.alpha)
        return config


def pack_targets(labels, teacher_logits):
    """`y` for `DistillationLoss`: `[label, teacher logits...]` per sample, float32.

    Args:
        labels: class indices, shape `(samples,)`.
        teacher_logits: the teacher's logits, shape `(samples, classes)`
            (e.g. from `cache_teacher_logits`), in the same sample order.

    Example:

    >>> import numpy as np
    >>> pack_targets([2, 0], np.zeros((2, 3))).tolist()
    [[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    labels = np.asarray(labels)
    logits = np.asarray(teacher_logits, np.float32)
    if logits.ndim != 2:
        raise ValueError(
            f"pack_targets: `teacher_logits` must have shape (samples, classes); received "
            f"shape {logits.shape}."
        )
    if labels.ndim != 1 or labels.shape[0] != logits.shape[0]:
        raise ValueError(
            f"pack_targets: `labels` must be one class index per sample, shape "
            f"({logits.shape[0]},) to match `teacher_logits`; received shape {labels.shape}."
        )
    if not np.issubdtype(labels.dtype, np.integer) and not np.all(labels == np.round(labels)):
        raise ValueError("pack_targets: `labels` must be integer class indices.")
    if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(
            f"pack_targets: `labels` must be class indices in [0, {logits.shape[1]}) for "
            f"{logits.shape[1]} teacher classes; received values from {labels.min()} to "
            f"{labels.max()}."
        )
    return np.concatenate([labels.astype(np.float32)[:, None], logits], axis=1)


def cache_teacher_logits(teacher, x, batch_size=32):
    """Runs `teacher` once over `x` and returns its logits, `(samples, classes)` float32.

    Cache them before distilling: the student's epochs then cost only the
    student's forward and backward passes (see `DistillationLoss`).

    Args:
        teacher: a Keras classifier returning logits (a keras-hub
            `BertTextClassifier` with its preprocessor takes raw texts).
        x: the training inputs, in the order of their labels: texts, arrays, a
            dict of arrays, or an unshuffled `tf.data.Dataset` of batches (of
            `x` or `(x, y)`). Shuffle after packing the targets, never before.
        batch_size: inference batch size (ignored for a `tf.data.Dataset`).

    Example:

    >>> import keras, numpy as np
    >>> teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> cache_teacher_logits(teacher, np.ones((5, 4)), batch_size=2).shape
    (5, 3)
    """
    if not checks.is_integer(batch_size) or batch_size < 1:
        raise ValueError(
            f"cache_teacher_logits: `batch_size` must be an integer >= 1; received {batch_size!r}."
        )
    if not isinstance(teacher, keras.Model):
        raise TypeError(
            f"cache_teacher_logits: `teacher` must be a keras.Model; received "
            f"{type(teacher).__name__}."
        )
    import tensorflow as tf

    if isinstance(x, tf.data.Dataset):
        logits = teacher.predict(x, verbose=0)
    else:
        if isinstance(x, tuple):
            x = list(x)
        logits = teacher.predict(x, batch_size=batch_size, verbose=0)
    logits = np.asarray(logits, np.float32)
    if logits.ndim != 2:
        raise ValueError(
            f"cache_teacher_logits: the teacher must return (samples, classes) logits; it "
            f"returned shape {logits.shape}."
        )
    return logits


@keras.saving.register_keras_serializable(package="keras_compress")
class HardLabelAccuracy(keras.metrics.SparseCategoricalAccuracy):
    """Accuracy on the hard labels of packed targets (`y_true[:, 0]`, see `pack_targets`).

    keras-hub classifiers compile with `metrics="auto"` (sparse categorical
    accuracy), which cannot read packed targets: compile a student trained on
    cached logits with `metrics=[HardLabelAccuracy()]` (or `metrics=[]`).

    Example:

    >>> import numpy as np
    >>> metric = HardLabelAccuracy()
    >>> metric.update_state(pack_targets([0, 1], np.zeros((2, 2))), np.array([[1.0, 0], [1, 0]]))
    >>> float(metric.result())
    0.5
    """

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(y_true[..., :1], y_pred, sample_weight)
