"""DistillationLoss, pack_targets and cache_teacher_logits (fast, small tensors)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_compress.distillation import (
    DistillationLoss,
    HardLabelAccuracy,
    cache_teacher_logits,
    make_student,
    pack_targets,
)
from tests.conftest import bert_inputs, small_bert_classifier


def numpy_loss(labels, teacher, student, temperature, alpha):
    def log_softmax(z):
        z = z - z.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))

    p_teacher = np.exp(log_softmax(teacher / temperature))
    kl = np.sum(p_teacher * (log_softmax(teacher / temperature)
                             - log_softmax(student / temperature)), axis=-1)
    hard = -log_softmax(student)[np.arange(len(labels)), labels]
    return alpha * temperature**2 * kl + (1 - alpha) * hard


@pytest.mark.parametrize("temperature, alpha", [(1.0, 0.5), (2.0, 1.0), (4.0, 0.3), (3.0, 0.0)])
def test_loss_matches_numpy(temperature, alpha):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 6)
    teacher, student = rng.normal(size=(2, 6, 5)) * 3
    y = pack_targets(labels, teacher)
    loss = DistillationLoss(temperature=temperature, alpha=alpha, reduction=None)
    expected = numpy_loss(labels, teacher, student, temperature, alpha)
    np.testing.assert_allclose(np.asarray(loss(y, student.astype("float32"))), expected,
                               rtol=1e-5, atol=1e-5)
    weights = rng.uniform(size=6)
    mean = DistillationLoss(temperature=temperature, alpha=alpha)
    np.testing.assert_allclose(float(mean(y, student.astype("float32"), sample_weight=weights)),
                               np.sum(expected * weights) / 6, rtol=1e-5, atol=1e-5)


def test_soft_term_equals_keras_logits_distillation():
    # With a KLDivergence instance: Keras's default loss="kl_divergence" resolves to the
    # function, which LogitsDistillation applies to the scaled logits (no softmax, no T^2).
    rng = np.random.default_rng(1)
    teacher, student = (rng.normal(size=(2, 8, 4)) * 2).astype("float32")
    keras_loss = keras.distillation.LogitsDistillation(
        temperature=3.0, loss=keras.losses.KLDivergence())
    ours = DistillationLoss(temperature=3.0, alpha=1.0)
    y = pack_targets(np.zeros(8, int), teacher)
    np.testing.assert_allclose(float(ours(y, student)),
                               float(keras_loss.compute_loss(teacher, student)), rtol=1e-4)


def test_gradient_is_scaled_soft_target_difference():
    # d/ds [T^2 KL(softmax(t/T) || softmax(s/T))] = T * (softmax(s/T) - softmax(t/T))
    teacher = np.array([[1.0, -1.0, 0.5]], "float32")
    student = tf.Variable([[0.2, 0.3, -0.4]])
    with tf.GradientTape() as tape:
        value = DistillationLoss(temperature=2.0, alpha=1.0)(pack_targets([0], teacher), student)
    expected = 2.0 * (tf.nn.softmax(student / 2.0) - tf.nn.softmax(teacher / 2.0))
    np.testing.assert_allclose(tape.gradient(value, student), expected, atol=1e-6)


def test_config_round_trip_and_saving(tmp_path):
    loss = DistillationLoss(temperature=4.0, alpha=0.25)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert (type(again), again.temperature, again.alpha) == (DistillationLoss, 4.0, 0.25)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("adam", loss=loss)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.loss.temperature == 4.0


def test_fit_student_on_cached_logits_lowers_the_loss():
    teacher = small_bert_classifier(num_layers=2)
    x = bert_inputs(batch=16, length=8)
    labels = np.arange(16) % 3
    y = pack_targets(labels, cache_teacher_logits(teacher, x, batch_size=5))
    student = make_student(teacher, num_layers=1)
    student.compile(keras.optimizers.Adam(1e-3), loss=DistillationLoss(2.0, 0.5),
                    metrics=[HardLabelAccuracy()])
    history = student.fit(x, y, batch_size=8, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_cache_teacher_logits_equals_predict_for_arrays_and_datasets():
    teacher = small_bert_classifier()
    x = bert_inputs(batch=7, length=8)
    expected = teacher.predict(x, verbose=0)
    np.testing.assert_allclose(cache_teacher_logits(teacher, x, batch_size=3), expected, atol=1e-5)
    dataset = tf.data.Dataset.from_tensor_slices((x, np.zeros(7))).batch(4)
    logits = cache_teacher_logits(teacher, dataset)
    assert logits.dtype == np.float32
    np.testing.assert_allclose(logits, expected, atol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    ({"temperature": 0}, "`temperature` must be a number > 0; received 0"),
    ({"temperature": "2"}, "`temperature` must be a number > 0"),
    ({"alpha": 1.5}, r"`alpha` must be a number in \[0, 1\]"),
    ({"alpha": -0.1}, r"`alpha` must be a number in \[0, 1\]"),
])
def test_bad_loss_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DistillationLoss(**kwargs)


def test_y_true_without_teacher_logits_is_refused():
    with pytest.raises(ValueError, match=r"`y_true` must have 1 \+ 3 columns .*received y_true "
                                         "with 1 columns"):
        DistillationLoss()(np.zeros((2, 1)), np.zeros((2, 3), "float32"))


@pytest.mark.parametrize("labels, logits, message", [
    ([0, 1, 2], np.zeros((2, 3)), r"one class index per sample, shape \(2,\)"),
    ([0, 3], np.zeros((2, 3)), r"class indices in \[0, 3\)"),
    ([0, -1], np.zeros((2, 3)), r"class indices in \[0, 3\)"),
    ([0.5, 1], np.zeros((2, 3)), "integer class indices"),
    ([0, 1], np.zeros(2), r"shape \(samples, classes\)"),
])
def test_bad_pack_targets(labels, logits, message):
    with pytest.raises(ValueError, match=message):
        pack_targets(labels, logits)


def test_bad_cache_arguments():
    teacher = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="`batch_size` must be an integer >= 1; received 0"):
        cache_teacher_logits(teacher, np.ones((2, 2)), batch_size=0)
    with pytest.raises(TypeError, match="`teacher` must be a keras.Model; received function"):
        cache_teacher_logits(lambda x: x, np.ones((2, 2)))
