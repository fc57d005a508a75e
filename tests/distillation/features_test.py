"""feature_model, HiddenStateDistillation and AttentionDistillation in keras's Distiller (fast)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_compress.distillation import (
    AttentionDistillation,
    HiddenStateDistillation,
    feature_model,
    make_student,
)
from tests.conftest import bert_inputs, small_bert_classifier


def teacher_and_student():
    teacher = small_bert_classifier(num_layers=4, num_heads=4, hidden_dim=16, intermediate_dim=32)
    return teacher, make_student(teacher, num_layers=2, num_heads=2, intermediate_dim=16)


def test_feature_model_computes_the_classifier_logits_with_its_weights(tmp_path):
    teacher = small_bert_classifier()
    view = feature_model(teacher)
    x = bert_inputs()
    np.testing.assert_allclose(view(x, training=False), teacher(x, training=False), atol=1e-6)
    assert {id(v) for v in view.weights} == {id(v) for v in teacher.weights}
    names = [layer.name for layer in view.layers]
    assert {"transformer_layer_0", "transformer_layer_1", "transformer_layer_0_attention",
            "transformer_layer_1_attention"} <= set(names)
    assert "transformer_layer_0_attention" not in [
        layer.name for layer in feature_model(teacher, attention=False).layers]
    teacher.save(tmp_path / "teacher.keras")  # the views leave the classifier saveable
    loaded = keras.saving.load_model(tmp_path / "teacher.keras")
    np.testing.assert_allclose(loaded(x, training=False), teacher(x, training=False), atol=1e-6)


def test_attention_layers_output_the_encoder_probabilities_with_padded_queries_zeroed():
    teacher = small_bert_classifier()
    view = feature_model(teacher)
    encoder = teacher.backbone.transformer_layers[1]
    x = bert_inputs(batch=3, length=8)  # row 0 is half padding
    probe = keras.Model(view.input, {
        "probabilities": view.get_layer("transformer_layer_1_attention").output,
        "hidden": teacher.backbone.transformer_layers[0].output,
    })
    outputs = probe(x)
    _, expected = encoder(outputs["hidden"], padding_mask=x["padding_mask"],
                          return_attention_scores=True, training=False)
    expected = expected.numpy() * x["padding_mask"][:, None, :, None]
    probabilities = outputs["probabilities"].numpy()
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    assert probabilities.shape == (3, 2, 8, 8)
    np.testing.assert_allclose(probabilities[1:].sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probabilities[0, :, :4].sum(-1), 1.0, atol=1e-5)
    assert np.all(probabilities[0, :, 4:] == 0)  # padded queries
    assert np.all(probabilities[0, :, :4, 4:] < 1e-6)  # padded keys


def numpy_attention_kl(teacher, student, eps=1e-7):
    if teacher.shape[1] != student.shape[1]:
        teacher, student = teacher.mean(1, keepdims=True), student.mean(1, keepdims=True)
    rows = teacher.sum()
    return np.sum(teacher * (np.log(teacher + eps) - np.log(student + eps))) / rows


def random_probabilities(rng, batch, heads, length, padded):
    logits = rng.normal(size=(batch, heads, length, length))
    logits[..., length - padded:] = -1e9
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    p[0, :, length - padded:] = 0.0  # sample 0: padded query rows, as feature_model gives
    return p.astype("float32")


@pytest.mark.parametrize("student_heads", [4, 2])
def test_attention_loss_matches_numpy(student_heads):
    rng = np.random.default_rng(0)
    teacher = random_probabilities(rng, 2, 4, 6, padded=2)
    student = random_probabilities(rng, 2, student_heads, 6, padded=2)
    student[0, :, 4:] = 0.0
    loss = AttentionDistillation(3, 1)
    np.testing.assert_allclose(float(loss.compute_loss(teacher, student)),
                               numpy_attention_kl(teacher, student), rtol=1e-5)
    assert abs(float(loss.compute_loss(teacher, teacher))) < 1e-6
    # Mean over (sample, head, real query): padded rows do not dilute it.
    per_row = numpy_attention_kl(teacher[1:], student[1:]) if student_heads == 4 else None
    if per_row is not None:
        only_full = float(loss.compute_loss(teacher[1:], student[1:]))
        np.testing.assert_allclose(only_full, per_row, rtol=1e-5)


def distiller(teacher, student, losses):
    model = keras.distillation.Distiller(feature_model(teacher), feature_model(student), losses,
                                         student_loss_weight=0.5)
    model.compile(keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_distiller_trains_the_student_and_projection_only():
    teacher = small_bert_classifier(num_layers=2, hidden_dim=16)
    student = small_bert_classifier(num_layers=1, hidden_dim=8, intermediate_dim=16, seed=1)
    hidden = HiddenStateDistillation(teacher_layer=1, student_layer=0)
    losses = [keras.distillation.LogitsDistillation(2.0, keras.losses.KLDivergence()), hidden,
              AttentionDistillation(1, 0)]
    model = distiller(teacher, student, losses)
    assert hidden.projection.kernel.shape == (8, 16)
    trainable = {id(v) for v in model.trainable_variables}
    projection = hidden.projection.kernel
    assert trainable == {id(v) for v in student.trainable_variables} | {id(projection)}
    assert not trainable & {id(v) for v in teacher.weights}

    x, y = bert_inputs(batch=4, length=8), np.array([0, 1, 2, 0])
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x, y, model(x, training=True), training=True)
    # The optimizer gets gradients for these only: the student's and the projection's.
    gradients = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None for g in gradients)
    assert {id(v) for v in teacher.weights} <= {id(v) for v in model.non_trainable_variables}

    before = {id(v): v.numpy().copy() for v in teacher.weights + model.trainable_variables}
    model.fit(x, y, epochs=1, verbose=0)
    assert all(np.array_equal(before[id(v)], v.numpy()) for v in teacher.weights)
    assert not np.array_equal(before[id(projection)], projection.numpy())
    changed = [not np.array_equal(before[id(v)], v.numpy()) for v in student.trainable_variables]
    assert sum(changed) >= len(changed) - 1  # all but, at most, the unused segment row


def test_same_width_layers_need_no_projection_and_fewer_heads_are_averaged():
    teacher, student = teacher_and_student()  # 4 -> 2 heads, same width
    hidden = HiddenStateDistillation(3, 1)
    attention = AttentionDistillation(3, 1)
    model = distiller(teacher, student, [hidden, attention])
    assert hidden.projection is None
    history = model.fit(bert_inputs(batch=4, length=8), np.array([0, 1, 2, 0]), epochs=2,
                        verbose=0)
    assert np.isfinite(history.history["distillation_loss"]).all()


def test_config_round_trip():
    hidden = HiddenStateDistillation(3, 1, loss="mae", projection=True)
    again = HiddenStateDistillation.from_config(hidden.get_config())
    assert (again.teacher_layer_name, again.student_layer_name, again.projection_mode) == (
        "transformer_layer_3", "transformer_layer_1", True)
    attention = AttentionDistillation.from_config(AttentionDistillation(2, 0).get_config())
    assert attention.teacher_layer_name == "transformer_layer_2_attention"


def test_plain_classifiers_get_a_hint_to_use_feature_model():
    teacher, student = teacher_and_student()
    for loss in (AttentionDistillation(3, 1), HiddenStateDistillation(3, 1)):
        with pytest.raises(ValueError, match="teacher model .* has no top-level layer .*pass "
                                             r"keras_compress.distillation.feature_model\("):
            keras.distillation.Distiller(teacher, student, [loss])


def test_a_layer_index_out_of_range_lists_the_layers():
    teacher, student = teacher_and_student()
    with pytest.raises(ValueError, match=r"student model .* has no top-level layer "
                                         "'transformer_layer_2_attention'; its transformer "
                                         r"layers are \['transformer_layer_0'"):
        distiller(teacher, student, [AttentionDistillation(3, 2)])


@pytest.mark.parametrize("cls", [AttentionDistillation, HiddenStateDistillation])
@pytest.mark.parametrize("index", [-1, 1.0, None])
def test_bad_layer_indices(cls, index):
    with pytest.raises(ValueError, match=r"`teacher_layer` must be a transformer layer index \(an "
                                         "integer >= 0\\) or a layer name"):
        cls(index, 0)


def test_projection_false_with_different_widths_is_refused():
    teacher = small_bert_classifier(num_layers=2, hidden_dim=16)
    student = small_bert_classifier(num_layers=1, hidden_dim=8, intermediate_dim=16, seed=1)
    with pytest.raises(ValueError, match="has width 16 and student layer 'transformer_layer_0' 8; "
                                         "with projection=False they must be equal"):
        distiller(teacher, student, [HiddenStateDistillation(1, 0, projection=False)])
    with pytest.raises(ValueError, match="`projection` must be 'auto', True or False"):
        HiddenStateDistillation(1, 0, projection="yes")


def test_attention_distillation_on_a_non_attention_layer_is_refused():
    teacher, student = teacher_and_student()
    with pytest.raises(ValueError, match=r"outputs shape .*attention probabilities \(batch, "
                                         "heads, query, key\\) are expected"):
        distiller(teacher, student, [AttentionDistillation("transformer_layer_3",
                                                           "transformer_layer_1")])
