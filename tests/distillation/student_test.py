"""make_student: which teacher structure is copied, exactly, and bad input (fast)."""

import keras
import numpy as np
import pytest

import keras_compress
from keras_compress.distillation import make_student, uniform_layer_map
from keras_compress.layers import MaskedDense, PrunableAttention
from keras_compress.pruning import importance
from tests.conftest import bert_inputs, small_bert_classifier


def teacher_4_layers():
    return small_bert_classifier(num_layers=4, num_heads=4, hidden_dim=16, intermediate_dim=32)


def chosen(student):
    return student._keras_compress_student


def encoder_output(encoder, hidden, mask):
    return keras.ops.convert_to_numpy(encoder(hidden, padding_mask=mask, training=False))


@pytest.mark.parametrize("layer_map, expected", [("uniform", [1, 3]), ([2, 0], [2, 0])])
def test_copied_layers_compute_exactly_what_the_teacher_layers_compute(layer_map, expected):
    teacher = teacher_4_layers()
    student = make_student(teacher, num_layers=2, layer_map=layer_map)
    assert chosen(student)["layer_map"] == expected
    hidden = np.random.default_rng(0).normal(size=(3, 8, 16)).astype("float32")
    mask = bert_inputs(batch=3, length=8)["padding_mask"]
    for j, i in enumerate(expected):
        np.testing.assert_array_equal(
            encoder_output(student.backbone.transformer_layers[j], hidden, mask),
            encoder_output(teacher.backbone.transformer_layers[i], hidden, mask),
        )
    for name in ("token_embedding", "position_embedding", "segment_embedding",
                 "embeddings_layer_norm", "pooled_dense"):
        for a, b in zip(student.backbone.get_layer(name).weights,
                        teacher.backbone.get_layer(name).weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(student.output_dense.weights, teacher.output_dense.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert (student.num_classes, student.backbone.num_layers) == (3, 2)


def test_full_depth_copy_equals_the_teacher_and_leaves_it_unchanged():
    teacher = teacher_4_layers()
    before = [w.numpy().copy() for w in teacher.weights]
    student = make_student(teacher, num_layers=4, layer_map=[0, 1, 2, 3])
    x = bert_inputs()
    np.testing.assert_array_equal(student(x, training=False), teacher(x, training=False))
    for value, weight in zip(before, teacher.weights):
        np.testing.assert_array_equal(value, weight.numpy())


def test_uniform_layer_map():
    assert uniform_layer_map(6, 3) == [1, 3, 5]
    assert uniform_layer_map(12, 4) == [2, 5, 8, 11]
    assert uniform_layer_map(6, 6) == list(range(6))
    assert uniform_layer_map(6, 1) == [5]


def masked_teacher_copy(teacher, layer_map, heads, neurons):
    """The teacher's chosen layers with every other head and neuron masked out."""
    copy = make_student(teacher, num_layers=len(layer_map), layer_map=layer_map)
    keras_compress.swap_layers(copy, {keras.layers.MultiHeadAttention: PrunableAttention,
                                      keras.layers.Dense: MaskedDense}, include="transformer")
    for encoder, kept_heads, kept_neurons in zip(copy.backbone.transformer_layers, heads, neurons):
        attention = encoder._self_attention_layer
        attention.head_mask.assign(np.isin(np.arange(attention.num_heads), kept_heads) * 1.0)
        dense = encoder._feedforward_intermediate_dense
        dense.unit_mask.assign(np.isin(np.arange(dense.units), kept_neurons) * 1.0)
        dense.apply_masks()
    return copy


def test_narrower_student_keeps_the_largest_weight_norms_and_equals_the_masked_teacher():
    teacher = teacher_4_layers()
    student = make_student(teacher, num_layers=2, layer_map=[3, 1], intermediate_dim=8,
                           num_heads=3)
    expected_heads, expected_neurons = [], []
    for i in (3, 1):
        encoder = teacher.backbone.transformer_layers[i]
        output_kernel = encoder._self_attention_layer._output_dense.kernel.numpy()
        head_norms = np.linalg.norm(output_kernel.reshape(4, -1), axis=1)
        expected_heads.append(sorted(np.argsort(-head_norms)[:3].tolist()))
        neuron_norms = importance.weight_norms(encoder._feedforward_intermediate_dense)
        expected_neurons.append(sorted(np.argsort(-neuron_norms)[:8].tolist()))
    assert chosen(student)["heads"] == expected_heads
    assert chosen(student)["neurons"] == expected_neurons
    for encoder in student.backbone.transformer_layers:
        attention = encoder._self_attention_layer
        assert type(attention) is keras.layers.MultiHeadAttention
        assert (attention.num_heads, attention.key_dim) == (3, 4)  # teacher's head size
        assert attention._query_dense.kernel.shape == (16, 3, 4)
        assert encoder._feedforward_intermediate_dense.kernel.shape == (16, 8)
        assert encoder._feedforward_output_dense.kernel.shape == (8, 16)
    reference = masked_teacher_copy(teacher, [3, 1], expected_heads, expected_neurons)
    x = bert_inputs()
    np.testing.assert_allclose(student(x, training=False), reference(x, training=False),
                               atol=1e-5)


def test_with_data_the_gradient_scores_choose():
    teacher = teacher_4_layers()
    x = bert_inputs(batch=8, length=8)
    y = np.arange(8) % 3
    student = make_student(teacher, num_layers=1, layer_map=[2], intermediate_dim=8,
                           num_heads=2, data=(x, y))
    scored = make_student(teacher, num_layers=1, layer_map=[2])
    keras_compress.swap_layers(scored, {keras.layers.MultiHeadAttention: PrunableAttention,
                                        keras.layers.Dense: MaskedDense}, include="transformer")
    scored.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    encoder = scored.backbone.transformer_layers[0]
    neurons, heads = importance.gate_gradients(
        scored, (x, y),
        [encoder._feedforward_intermediate_dense.unit_mask,
         encoder._self_attention_layer.head_mask],
    )
    assert chosen(student)["heads"] == [sorted(np.argsort(-heads)[:2].tolist())]
    assert chosen(student)["neurons"] == [sorted(np.argsort(-neurons)[:8].tolist())]
    reference = masked_teacher_copy(teacher, [2], chosen(student)["heads"],
                                    chosen(student)["neurons"])
    np.testing.assert_allclose(student(x, training=False), reference(x, training=False),
                               atol=1e-5)


def test_student_with_fewer_heads_saves_and_loads(tmp_path):
    student = make_student(teacher_4_layers(), num_layers=2, num_heads=2, intermediate_dim=16)
    student.save(tmp_path / "student.keras")
    loaded = keras.saving.load_model(tmp_path / "student.keras")
    x = bert_inputs()
    np.testing.assert_allclose(loaded(x, training=False), student(x, training=False), atol=1e-6)
    assert [e._self_attention_layer.num_heads for e in loaded.backbone.transformer_layers] == [2, 2]


def test_student_shares_the_preprocessor_and_classifies_texts():
    from tests.export.tflite_test import text_classifier

    teacher = text_classifier()
    student = make_student(teacher, num_layers=1)
    assert student.preprocessor is teacher.preprocessor
    assert student.predict(["book a table", "bye"], verbose=0).shape == (2, 3)


def test_a_stripped_teacher_with_per_layer_heads_is_copied():
    teacher = teacher_4_layers()
    keras_compress.swap_layers(teacher, {keras.layers.MultiHeadAttention: PrunableAttention})
    for encoder, mask in zip(teacher.backbone.transformer_layers,
                             ([1, 1, 1, 1], [1, 0, 1, 0], [0, 0, 1, 0], [1, 1, 0, 1])):
        encoder._self_attention_layer.head_mask.assign(mask)
    stripped = keras_compress.strip(teacher)
    student = make_student(stripped, num_layers=4, layer_map=[0, 1, 2, 3])
    assert [e._self_attention_layer.num_heads for e in student.backbone.transformer_layers] == [
        4, 2, 1, 3]
    x = bert_inputs()
    np.testing.assert_allclose(student(x, training=False), stripped(x, training=False), atol=1e-6)
    with pytest.raises(ValueError, match=r"`num_heads` must be an integer from 1 to 2 "):
        make_student(stripped, num_layers=2, num_heads=3)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"num_layers": 5}, ValueError,
     "`num_layers` must be an integer from 1 to the teacher's 4 transformer layers; received 5"),
    ({"num_layers": 0}, ValueError, "`num_layers` must be an integer from 1 to"),
    ({"num_layers": 2.0}, ValueError, "`num_layers` must be an integer from 1 to"),
    ({"num_layers": 2, "layer_map": [0, 4]}, ValueError,
     r"`layer_map` entries must be teacher layer indices from 0 to 3; received 4 in \[0, 4\]"),
    ({"num_layers": 2, "layer_map": [-1, 2]}, ValueError, "received -1"),
    ({"num_layers": 2, "layer_map": [0, 1, 2]}, ValueError,
     r"one teacher layer per student layer \(2\); received 3"),
    ({"num_layers": 2, "layer_map": "top"}, ValueError,
     "`layer_map` must be 'uniform' or a list of 2 teacher layer indices; received 'top'"),
    ({"num_layers": 2, "layer_map": 3}, TypeError, "`layer_map` must be 'uniform' or a list"),
    ({"num_layers": 2, "intermediate_dim": 0}, ValueError,
     r"`intermediate_dim` must be an integer from 1 to 32 \(the teacher's feed-forward neurons"),
    ({"num_layers": 2, "intermediate_dim": -8}, ValueError, "`intermediate_dim` must be"),
    ({"num_layers": 2, "intermediate_dim": 64}, ValueError, "received 64"),
    ({"num_layers": 2, "num_heads": 0}, ValueError,
     r"`num_heads` must be an integer from 1 to 4 \(the teacher's attention heads"),
    ({"num_layers": 2, "num_heads": 5}, ValueError, "`num_heads` must be an integer from 1 to 4"),
    ({"num_layers": 2, "num_heads": 1.5}, ValueError, "`num_heads` must be an integer"),
])
def test_bad_arguments_name_the_argument_and_what_is_allowed(kwargs, error, message):
    with pytest.raises(error, match=message):
        make_student(teacher_4_layers(), **kwargs)


def test_a_non_bert_teacher_is_refused():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(TypeError, match="`teacher` must be a keras-hub text classifier"
                                        ".*received a Sequential"):
        make_student(model, num_layers=1)


def test_a_teacher_with_compression_layers_must_be_stripped_first():
    teacher = teacher_4_layers()
    keras_compress.swap_layers(teacher, {keras.layers.Dense: MaskedDense})
    with pytest.raises(ValueError, match=r"holds keras_compress layers .*keras_compress.strip"):
        make_student(teacher, num_layers=2)
