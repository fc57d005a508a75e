"""Distillation in the same `fit` as pruning and QAT callbacks, then TFLite export (fast)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_compress
from keras_compress.callbacks import HeadPruning, NeuronPruning, QATToggle
from keras_compress.distillation import (
    AttentionDistillation,
    DistillationLoss,
    HardLabelAccuracy,
    cache_teacher_logits,
    feature_model,
    make_student,
    pack_targets,
)
from keras_compress.export import ExportConfig, Parity, to_tflite
from keras_compress.layers import (
    MaskedDense,
    PrunableAttention,
    QuantizedDense,
    QuantizedEinsumDense,
)
from keras_compress.layers.base import CompressedLayer
from keras_compress.pruning import ConstantSparsity
from keras_compress.surgery import tree
from tests.conftest import bert_inputs, small_bert_classifier

QUIET = {"verbose": False}


def teacher_4_layers():
    return small_bert_classifier(num_layers=4, num_heads=4, hidden_dim=16, intermediate_dim=32)


def batches(x, y, batch_size=4):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


def pruning_distiller():
    teacher = teacher_4_layers()
    student = make_student(teacher, num_layers=2)
    keras_compress.swap_layers(student, {keras.layers.MultiHeadAttention: PrunableAttention,
                                         keras.layers.Dense: MaskedDense})
    distiller = keras.distillation.Distiller(
        feature_model(teacher), feature_model(student),
        [keras.distillation.LogitsDistillation(2.0, keras.losses.KLDivergence()),
         AttentionDistillation(3, 1)],
    )
    distiller.compile(keras.optimizers.Adam(1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return teacher, student, distiller


def test_distiller_with_neuron_pruning_of_the_student_then_strip_and_tflite(tmp_path):
    teacher, student, distiller = pruning_distiller()
    x, y = bert_inputs(batch=8, length=8), np.arange(8) % 3
    pruning = NeuronPruning(ConstantSparsity(0.5, 0, frequency=1), importance="weight_norm")
    history = distiller.fit(batches(x, y), epochs=1, callbacks=[pruning], verbose=0)
    assert history.history["neurons_kept"] == [32]  # of the student's 2 x 32
    assert not [layer for _, _, layer in tree.walk(teacher) if isinstance(layer, CompressedLayer)]

    small = keras_compress.strip(student)
    assert [e._feedforward_intermediate_dense.units for e in small.backbone.transformer_layers] == [
        16, 16]
    np.testing.assert_allclose(small(x, training=False), student(x, training=False), atol=1e-5)
    report = to_tflite(student, tmp_path / "student.tflite", ExportConfig(sequence_lengths=(8,)),
                       **QUIET)
    assert report.parity["max_abs_diff"] <= 1e-4


def test_gradient_scored_pruning_inside_a_distiller():
    _, _, distiller = pruning_distiller()
    x, y = bert_inputs(batch=8, length=8), np.arange(8) % 3
    data = batches(x, y)
    callbacks = [
        HeadPruning(ConstantSparsity(0.25, 0, frequency=1), data=data, num_batches=1),
        NeuronPruning(ConstantSparsity(0.5, 0, frequency=1), data=data, num_batches=1),
    ]
    history = distiller.fit(data, epochs=1, callbacks=callbacks, verbose=0)
    assert history.history["heads_kept"] == [6]


def test_cached_logits_with_qat_toggle_and_int8_export(tmp_path):
    teacher = teacher_4_layers()
    x, labels = bert_inputs(batch=16, length=8), np.arange(16) % 3
    y = pack_targets(labels, cache_teacher_logits(teacher, x))
    student = make_student(teacher, num_layers=1, num_heads=2)  # a replaced attention layer
    keras_compress.swap_layers(student, {keras.layers.EinsumDense: QuantizedEinsumDense,
                                         keras.layers.Dense: QuantizedDense})
    student.compile(keras.optimizers.Adam(1e-3), loss=DistillationLoss(temperature=2.0),
                    metrics=[HardLabelAccuracy()])
    toggle = QATToggle(start_step=2)
    history = student.fit(x, y, batch_size=8, epochs=2, callbacks=[toggle], verbose=0)
    assert history.history["quantized"] == [0.0, 1.0] and toggle.started_at == 2
    with pytest.warns(UserWarning, match="ops left in float32"):
        report = to_tflite(student, tmp_path / "student.tflite",
                           ExportConfig("int8", sequence_lengths=(8,)),
                           parity=Parity.for_quantization("int8", data=x), **QUIET)
    assert report.quantization == "int8"


def test_head_and_neuron_pruning_of_a_student_on_cached_logits(tmp_path):
    teacher = teacher_4_layers()
    x, labels = bert_inputs(batch=8, length=8), np.arange(8) % 3
    y = pack_targets(labels, cache_teacher_logits(teacher, x))
    student = make_student(teacher, num_layers=2)
    keras_compress.swap_layers(student, {keras.layers.MultiHeadAttention: PrunableAttention,
                                         keras.layers.Dense: MaskedDense})
    student.compile(keras.optimizers.Adam(1e-3), loss=DistillationLoss(),
                    metrics=[HardLabelAccuracy()])
    data = batches(x, y)
    callbacks = [
        HeadPruning(ConstantSparsity(0.5, 0, frequency=1), data=data, num_batches=2),
        NeuronPruning(ConstantSparsity(0.5, 0, frequency=1), data=data, num_batches=2),
    ]
    history = student.fit(x, y, batch_size=4, epochs=1, callbacks=callbacks, verbose=0)
    assert history.history["heads_kept"] == [4] and history.history["neurons_kept"] == [32]
    assert 0 <= history.history["accuracy"][0] <= 1
    report = to_tflite(student, tmp_path / "student.tflite", ExportConfig(sequence_lengths=(8,)),
                       **QUIET)
    assert report.parity["max_abs_diff"] <= 1e-4
