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


@pytest.mark.parametrize("family,named", [
    ("ALBERT", "ALBERT shares one encoder"),
    ("DeBERTa-v3", "DebertaV3TextClassifier with a DebertaV3Backbone"),
    ("functional transformer", "received a Functional"),
])
def test_other_models_get_a_clear_error(family, named):
    teacher, _ = families.build(family)
    with pytest.raises(TypeError, match=named):
        make_student(teacher, num_layers=1)
