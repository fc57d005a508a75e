"""`make_student` on every keras-hub classifier whose backbone stacks TransformerEncoders."""

import numpy as np
import pytest

from keras_compress.distillation import make_student
from tests import families


@pytest.mark.parametrize("family", ["DistilBERT", "RoBERTa", "XLM-RoBERTa"])
def test_student_of_an_encoder_stack_computes_what_its_teacher_layers_compute(family):
    teacher, x = families.build(family)
    full = make_student(teacher, num_layers=2)
    assert type(full) is type(teacher) and full.backbone.num_layers == 2
    np.testing.assert_allclose(full.predict(x, verbose=0), teacher.predict(x, verbose=0),
                               atol=1e-5)
    small = make_student(teacher, num_layers=1, intermediate_dim=8, num_heads=1)
    encoder = small.backbone.transformer_layers[0]
    assert encoder._feedforward_intermediate_dense.units == 8
    assert encoder._self_attention_layer.num_heads == 1
    assert small.predict(x, verbose=0).shape == (4, 3)


def test_albert_student_applies_its_shared_encoder_fewer_times():
    teacher, x = families.build("ALBERT")
    assert teacher.backbone.num_layers == 2
    one = make_student(teacher, num_layers=1)
    assert type(one) is type(teacher) and one.backbone.num_layers == 1
    # The same shared weights, applied once: what the teacher computes after one repetition.
    [[source]], [[target]] = teacher.backbone.transformer_layers, one.backbone.transformer_layers
    for a, b in zip(source.weights, target.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    full = make_student(teacher, num_layers=2)
    np.testing.assert_allclose(full.predict(x, verbose=0), teacher.predict(x, verbose=0),
                               atol=1e-5)
    narrow = make_student(teacher, num_layers=1, intermediate_dim=8, num_heads=1)
    [[encoder]] = narrow.backbone.transformer_layers
    assert encoder._feedforward_intermediate_dense.units == 8
    assert encoder._self_attention_layer.num_heads == 1
    assert narrow.predict(x, verbose=0).shape == (4, 3)
    with pytest.raises(ValueError, match="`layer_map` does not apply"):
        make_student(teacher, num_layers=1, layer_map=[1])


@pytest.mark.parametrize("family,named", [
    ("DeBERTa-v3", "DebertaV3TextClassifier with a DebertaV3Backbone"),
    ("functional transformer", "received a Functional"),
])
def test_other_models_get_a_clear_error(family, named):
    teacher, _ = families.build(family)
    with pytest.raises(TypeError, match=named):
        make_student(teacher, num_layers=1)
