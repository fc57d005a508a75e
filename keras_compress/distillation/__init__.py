"""Knowledge distillation for keras-hub BERTs, on top of `keras.distillation`.

- `make_student`: a smaller BERT classifier initialised from a fine-tuned teacher.
- `cache_teacher_logits`, `pack_targets`, `DistillationLoss`, `HardLabelAccuracy`: distil with
  plain `compile` / `fit` from teacher logits computed once.
- `feature_model`, `HiddenStateDistillation`, `AttentionDistillation`:
  intermediate-layer losses for `keras.distillation.Distiller`.

See docs/distillation.md.
"""

from keras_compress.distillation.features import (
    AttentionDistillation,
    HiddenStateDistillation,
    feature_model,
)
from keras_compress.distillation.logits import (
    DistillationLoss,
    HardLabelAccuracy,
    cache_teacher_logits,
    pack_targets,
)
from keras_compress.distillation.student import make_student, uniform_layer_map

__all__ = [
    "AttentionDistillation",
    "DistillationLoss",
    "HardLabelAccuracy",
    "HiddenStateDistillation",
    "cache_teacher_logits",
    "feature_model",
    "make_student",
    "pack_targets",
    "uniform_layer_map",
]
