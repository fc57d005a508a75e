"""Intermediate-layer distillation of keras-hub BERTs with `keras.distillation.Distiller`.

Keras's `Distiller` extracts features by `model.get_layer(name).output`,
which only reaches a model's top-level layers; in a keras-hub
`BertTextClassifier` the transformer layers sit inside the nested
`BertBackbone`, and their attention probabilities are never a layer output.
`feature_model` gives a classifier a functional view that shares all its
layers (training the view trains the classifier) and makes both reachable:

- `"transformer_layer_{i}"`: the hidden states after transformer layer `i`;
- `"transformer_layer_{i}_attention"`: that layer's attention
  probabilities, `(batch, heads, query, key)`, rows of padded queries zeroed.

`HiddenStateDistillation` (Keras's `FeatureDistillation` plus a learned
projection where widths differ) and `AttentionDistillation` (TinyBERT's
attention KL) name these layers by index.
"""

import keras
from keras import ops

from keras_compress import checks
from keras_compress.distillation.student import bert_parts

FEATURE_NAME = "transformer_layer_{}"
ATTENTION_NAME = "transformer_layer_{}_attention"


class _AttentionProbabilities(keras.layers.Layer):
    """The attention probabilities of one `TransformerEncoder`, recomputed from its input.

    Holds the encoder without tracking it (the view must not own its
    weights twice) and looks its attention layer up at call time, so layers
    swapped into the encoder later (`PrunableAttention`) are used. In a
    compiled step only the query and key projections run: the rest of the
    encoder's output is unused and pruned from the graph.
    """

    def __init__(self, encoder, **kwargs):
        super().__init__(trainable=False, **kwargs)
        object.__setattr__(self, "_encoder", encoder)
        self.built = True

    def call(self, hidden, padding_mask=None):
        _, probabilities = self._encoder(
            hidden, padding_mask=padding_mask, return_attention_scores=True, training=False
        )
        if padding_mask is not None:
            rows = ops.cast(padding_mask, probabilities.dtype)[:, None, :, None]
            probabilities = probabilities * rows
        return probabilities

    def compute_output_spec(self, hidden, padding_mask=None):
        heads = self._encoder._self_attention_layer.num_heads
        shape = (hidden.shape[0], heads, hidden.shape[1], hidden.shape[1])
        return keras.KerasTensor(shape, dtype=self.compute_dtype)


class _Anchor(keras.layers.Layer):
    """Returns its first input; the others only join the functional graph."""

    def call(self, inputs):
        return inputs[0]

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs[0].shape, dtype=inputs[0].dtype)


def feature_model(classifier, attention=True, name=None):
    """A functional view of a keras-hub BERT classifier with its layers reachable by name.

    The view takes the same packed inputs (`token_ids`, `segment_ids`,
    `padding_mask`; no preprocessor) and returns the same logits, computed by
    the same layer objects: pass views of the teacher and the student to
    `keras.distillation.Distiller`, train, then use or export the student
    classifier itself. Build the view after `keras_compress.swap_layers`
    (swaps inside the transformer layers, the usual case, are also seen by a
    view built before).

    Top-level layers of the view: `transformer_layer_{i}` (hidden states)
    and, with `attention=True`, `transformer_layer_{i}_attention` (attention
    probabilities, computed only where a loss uses them).

    Args:
        classifier: a `keras_hub.models.BertTextClassifier`.
        attention: add the attention-probability layers.
        name: the view's name (default: `"<classifier name>_features"`).

    Example:

    >>> import keras_hub
    >>> from keras_compress.distillation import feature_model
    >>> backbone = keras_hub.models.BertBackbone(vocabulary_size=50, num_layers=2,
    ...     num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16)
    >>> classifier = keras_hub.models.BertTextClassifier(backbone, 3, preprocessor=None)
    >>> view = feature_model(classifier)
    >>> view.get_layer("transformer_layer_1_attention").output.shape
    (None, 2, None, None)
    """
    backbone = bert_parts(classifier, "feature_model", "classifier")
    logits = classifier.output_dense(classifier.output_dropout(backbone.output["pooled_output"]))
    if attention:
        taps = []
        for i, encoder in enumerate(backbone.transformer_layers):
            arguments = encoder._inbound_nodes[0].arguments
            taps.append(
                _AttentionProbabilities(encoder, name=ATTENTION_NAME.format(i))(
                    arguments.args[0], arguments.kwargs.get("padding_mask")
                )
            )
        logits = _Anchor(name="feature_anchor")([logits, *taps])
    return keras.Model(backbone.input, logits, name=name or f"{classifier.name}_features")


def _layer_name(value, template, cls, argument):
    if isinstance(value, str):
        return value
    if not checks.is_integer(value) or value < 0:
        raise ValueError(
            f"{cls}: `{argument}` must be a transformer layer index (an integer >= 0) or a "
            f"layer name of a feature_model; received {value!r}."
        )
    return template.format(int(value))


def _feature_layer(model, name, role, cls):
    try:
        return model.get_layer(name)
    except ValueError:
        layers = [layer.name for layer in model.layers if layer.name.startswith("transformer_")]
        hint = (
            f"its transformer layers are {layers}"
            if layers
            else "pass keras_compress.distillation.feature_model(classifier) to the Distiller "
            "instead of the classifier"
        )
        raise ValueError(
            f"{cls}: the {role} model '{model.name}' has no top-level layer '{name}'; {hint}."
        ) from None


@keras.saving.register_keras_serializable(package="keras_compress")
class HiddenStateDistillation(keras.layers.Layer, keras.distillation.FeatureDistillation):
    """Hidden-state MSE between a teacher and a student transformer layer, across widths.

    Keras's `FeatureDistillation` compares two layers' outputs with a loss
    that needs equal shapes. Where the student's hidden size differs from the
    teacher's, this loss learns a linear map `W` (student width -> teacher
    width, no bias, as in TinyBERT) and compares `teacher` with
    `student @ W`. The projection's weights belong to this loss, which is a
    Keras layer, so the `Distiller` trains them with the student; they are
    not part of the student.

    Args:
        teacher_layer: transformer layer index in the teacher (or a layer
            name of its `feature_model`).
        student_layer: the same for the student.
        loss: as in `FeatureDistillation` (default `"mse"`).
        projection: `"auto"` (only where widths differ), `True` or `False`.

    Example (see `docs/distillation.md` for a full `Distiller`):

    >>> from keras_compress.distillation import HiddenStateDistillation
    >>> HiddenStateDistillation(teacher_layer=5, student_layer=2).teacher_layer_name
    'transformer_layer_5'
    """

    def __init__(self, teacher_layer, student_layer, loss="mse", projection="auto", **kwargs):
        keras.layers.Layer.__init__(self, **kwargs)
        cls = type(self).__name__
        if projection not in ("auto", True, False):
            raise ValueError(
                f"{cls}: `projection` must be 'auto', True or False; received {projection!r}."
            )
        keras.distillation.FeatureDistillation.__init__(
            self,
            loss=loss,
            teacher_layer_name=_layer_name(teacher_layer, FEATURE_NAME, cls, "teacher_layer"),
            student_layer_name=_layer_name(student_layer, FEATURE_NAME, cls, "student_layer"),
        )
        self.teacher_layer = teacher_layer
        self.student_layer = student_layer
        self._loss_config = loss
        self.projection_mode = projection
        self.projection = None
        self.built = True  # the projection is built in validate_model_compatibility

    def validate_model_compatibility(self, teacher, student):
        cls = type(self).__name__
        teacher_layer = _feature_layer(teacher, self.teacher_layer_name, "teacher", cls)
        student_layer = _feature_layer(student, self.student_layer_name, "student", cls)
        teacher_width = teacher_layer.output.shape[-1]
        student_width = student_layer.output.shape[-1]
        super().validate_model_compatibility(teacher, student)
        wanted = self.projection_mode is True or (
            self.projection_mode == "auto" and teacher_width != student_width
        )
        if not wanted and teacher_width != student_width:
            raise ValueError(
                f"{cls}: teacher layer '{self.teacher_layer_name}' has width {teacher_width} and "
                f"student layer '{self.student_layer_name}' {student_width}; with "
                "projection=False they must be equal (use projection='auto')."
            )
        if wanted and self.projection is None:
            self.projection = keras.layers.Dense(
                teacher_width, use_bias=False, name=f"{self.name}_projection"
            )
            self.projection.build((None, None, student_width))

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        if self.projection is not None:
            student_outputs = self.projection(student_outputs)
        return super().compute_loss(teacher_outputs, student_outputs, **kwargs)

    def get_config(self):
        config = keras.layers.Layer.get_config(self)
        config.update(
            teacher_layer=self.teacher_layer,
            student_layer=self.student_layer,
            loss=keras.losses.serialize(self.loss),
            projection=self.projection_mode,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["loss"] = keras.losses.deserialize(config["loss"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_compress")
class AttentionDistillation(keras.distillation.DistillationLoss):
    """KL divergence between teacher and student attention probabilities (TinyBERT style).

    For a teacher layer and a student layer, the loss is the mean over
    (sample, head, non-padded query) of `KL(p_teacher || p_student)` over the
    keys. With equal head counts heads are compared one to one; otherwise
    (a student made with fewer heads) the head-averaged distributions are
    compared. Use it in `keras.distillation.Distiller` with teacher and
    student wrapped by `feature_model`, which exposes the probabilities as
    layers.

    Args:
        teacher_layer: transformer layer index in the teacher (or a layer
            name of its `feature_model`).
        student_layer: the same for the student.
        epsilon: added inside the logarithms.

    Example:

    >>> from keras_compress.distillation import AttentionDistillation
    >>> AttentionDistillation(teacher_layer=5, student_layer=2).student_layer_name
    'transformer_layer_2_attention'
    """

    def __init__(self, teacher_layer, student_layer, epsilon=1e-7):
        cls = type(self).__name__
        self.teacher_layer = teacher_layer
        self.student_layer = student_layer
        self.teacher_layer_name = _layer_name(teacher_layer, ATTENTION_NAME, cls, "teacher_layer")
        self.student_layer_name = _layer_name(student_layer, ATTENTION_NAME, cls, "student_layer")
        if not checks.is_number(epsilon) or epsilon <= 0:
            raise ValueError(f"{cls}: `epsilon` must be a number > 0; received {epsilon!r}.")
        self.epsilon = float(epsilon)

    def validate_model_compatibility(self, teacher, student):
        cls = type(self).__name__
        for model, name, role in ((teacher, self.teacher_layer_name, "teacher"),
                                  (student, self.student_layer_name, "student")):
            shape = _feature_layer(model, name, role, cls).output.shape
            if len(shape) != 4:
                raise ValueError(
                    f"{cls}: {role} layer '{name}' outputs shape {shape}; attention "
                    "probabilities (batch, heads, query, key) are expected (the "
                    "transformer_layer_{i}_attention layers of a feature_model)."
                )

    def validate_outputs(self, teacher_outputs, student_outputs):
        if teacher_outputs.shape[-1] is not None and student_outputs.shape[-1] is not None and (
            teacher_outputs.shape[-1] != student_outputs.shape[-1]
        ):
            raise ValueError(
                f"{type(self).__name__}: teacher and student see different sequence lengths "
                f"({teacher_outputs.shape[-1]} and {student_outputs.shape[-1]})."
            )

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        teacher = ops.convert_to_tensor(teacher_outputs)
        student = ops.cast(student_outputs, teacher.dtype)
        if teacher.shape[1] != student.shape[1]:
            teacher = ops.mean(teacher, axis=1, keepdims=True)
            student = ops.mean(student, axis=1, keepdims=True)
        eps = self.epsilon
        pointwise = teacher * (ops.log(teacher + eps) - ops.log(student + eps))
        # Rows of padded queries are zero in both, so they add nothing; each
        # real row's probabilities sum to 1, so this counts real rows x heads.
        rows = ops.maximum(ops.sum(teacher), 1.0)
        return ops.sum(pointwise) / rows

    def get_config(self):
        return {"teacher_layer": self.teacher_layer, "student_layer": self.student_layer,
                "epsilon": self.epsilon}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
