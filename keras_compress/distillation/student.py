"""`make_student`: a smaller keras-hub BERT classifier initialised from a fine-tuned teacher."""

import copy
import re
import warnings

import keras
import numpy as np

from keras_compress import checks
from keras_compress.layers import MaskedDense, PrunableAttention
from keras_compress.layers.base import CompressedLayer
from keras_compress.pruning import importance
from keras_compress.surgery import slicing, tree
from keras_compress.surgery.swap import swap_layers


def bert_parts(model, function, argument):
    """The `BertBackbone` of a keras-hub `BertTextClassifier`; a clear error otherwise."""
    import keras_hub

    if not isinstance(model, keras_hub.models.BertTextClassifier) or not isinstance(
        getattr(model, "backbone", None), keras_hub.models.BertBackbone
    ):
        raise TypeError(
            f"{function}: `{argument}` must be a keras_hub.models.BertTextClassifier (a "
            f"BertBackbone with a classification head); received {type(model).__name__}."
        )
    return model.backbone


def encoder_parts(model, function, argument):
    """`(backbone, encoders, shared)` of a keras-hub text classifier whose backbone is a stack
    of `TransformerEncoder`s; a clear error otherwise.

    BERT, DistilBERT, RoBERTa and XLM-RoBERTa classifiers qualify, with one
    encoder per layer (`shared` False). ALBERT qualifies with `shared` True:
    its groups of encoders are each applied many times, so `encoders` are the
    shared ones and its depth is a number of repetitions. DeBERTa-v3 and
    RoFormer-v2 use their own encoder layers: those get the error.
    """
    import keras_hub

    backbone = getattr(model, "backbone", None)
    encoders, shared = _encoders(backbone)
    config = backbone.get_config() if isinstance(backbone, keras_hub.models.Backbone) else {}
    if not (
        isinstance(model, keras_hub.models.TextClassifier)
        and encoders
        and all(type(layer) is keras_hub.layers.TransformerEncoder for layer in encoders)
        and {"num_layers", "intermediate_dim"} <= set(config)
        and (not shared or "num_groups" in config)
    ):
        found = type(model).__name__
        if backbone is not None:
            found += f" with a {type(backbone).__name__}"
        raise TypeError(
            f"{function}: `{argument}` must be a keras-hub text classifier whose backbone is a "
            "stack of keras_hub.layers.TransformerEncoder (BertTextClassifier, "
            "DistilBertTextClassifier, RobertaTextClassifier, XLMRobertaTextClassifier, "
            f"AlbertTextClassifier); received a {found}. DeBERTa-v3 and RoFormer-v2 use their "
            "own encoder layers: build their students by hand."
        )
    return backbone, encoders, shared


def _encoders(backbone):
    """`(encoders, shared)`: the backbone's transformer layers, flat (ALBERT's are groups)."""
    layers = list(getattr(backbone, "transformer_layers", None) or [])
    shared = bool(layers) and all(isinstance(group, list) for group in layers)
    return ([layer for group in layers for layer in group] if shared else layers), shared


def uniform_layer_map(teacher_layers, num_layers):
    """Teacher layer for each student layer, evenly spaced and ending at the top layer.

    Student layer `j` takes teacher layer `(j + 1) * L // N - 1` (TinyBERT's
    mapping): 6 -> 3 layers gives `[1, 3, 5]`, 12 -> 4 gives `[2, 5, 8, 11]`.

    >>> uniform_layer_map(6, 3)
    [1, 3, 5]
    """
    return [(j + 1) * teacher_layers // num_layers - 1 for j in range(num_layers)]


def make_student(teacher, num_layers, layer_map="uniform", intermediate_dim=None, num_heads=None,
                 data=None, num_batches=8):
    """A smaller keras-hub encoder classifier initialised from a fine-tuned teacher.

    Works for keras-hub text classifiers whose backbone is a stack of
    `TransformerEncoder`s (BERT, DistilBERT, RoBERTa, XLM-RoBERTa; see
    `encoder_parts`); the student has the teacher's class, with `num_layers`
    transformer layers, each a copy of a teacher layer (`layer_map`); the
    embeddings, the pooler and the classification head are copied too, and
    the teacher's preprocessor (tokenizer, sequence length) is shared. With
    no narrowing, each student layer computes exactly what its teacher layer
    computes.

    Narrower layers keep the teacher's most important structure:

    - `intermediate_dim`: the feed-forward neurons kept (columns of the
      intermediate kernel, rows of the output kernel);
    - `num_heads`: the attention heads kept, each with the teacher's head
      size (query, key, value and output projections are sliced per head).

    Importance is `|dLoss/d gate|` on `data` (the gradient scores of
    `NeuronPruning` and `HeadPruning`, computed on a copy of the teacher)
    when `data` is given, else the weight norm (a neuron's intermediate
    kernel column; a head's slice of the attention output kernel). Kept units
    stay in the teacher's order.

    keras-hub's `TransformerEncoder` derives the head size from
    `hidden_dim // num_heads`, so a student with fewer heads is built with
    the teacher's head count and its attention layers are then replaced by
    smaller `MultiHeadAttention` layers, as `keras_compress.strip` does for
    pruned heads: the student saves and loads with `keras_compress`
    imported. `num_heads` therefore need not divide the hidden size.

    Args:
        teacher: a fine-tuned keras-hub encoder classifier (plain or
            stripped; compression layers must be stripped first).
        num_layers: transformer layers of the student, 1 to the teacher's.
        layer_map: `"uniform"` (see `uniform_layer_map`: 6 -> 3 gives
            `[1, 3, 5]`) or a list of `num_layers` teacher layer indices.
        intermediate_dim: feed-forward width of the student (default: the
            teacher's), 1 to the teacher's.
        num_heads: attention heads per student layer (default: the
            teacher's), 1 to the teacher's.
        data: batches `(x, labels)` for the gradient importance (a
            `tf.data.Dataset`, an iterable of batches, or one tuple; raw texts
            go through the teacher's preprocessor).
        num_batches: batches of `data` used.

    Returns:
        The student, a new classifier of the teacher's class (the teacher is unchanged).

    Example:

    >>> import keras_hub
    >>> from keras_compress.distillation import make_student
    >>> backbone = keras_hub.models.BertBackbone(vocabulary_size=50, num_layers=4,
    ...     num_heads=4, hidden_dim=16, intermediate_dim=32, max_sequence_length=16)
    >>> teacher = keras_hub.models.BertTextClassifier(backbone, 3, preprocessor=None)
    >>> student = make_student(teacher, num_layers=2, intermediate_dim=8, num_heads=3)
    >>> encoder = student.backbone.transformer_layers[1]
    >>> student.backbone.num_layers, encoder._feedforward_intermediate_dense.units
    (2, 8)
    >>> encoder._self_attention_layer.num_heads, encoder._self_attention_layer.key_dim
    (3, 4)
    """
    backbone, encoders, shared = encoder_parts(teacher, "make_student", "teacher")
    compressed = [
        "/".join(path)
        for path, _, layer in tree.walk(teacher)
        if isinstance(layer, CompressedLayer)
    ]
    if compressed:
        raise ValueError(
            f"make_student: the teacher holds keras_compress layers ({', '.join(compressed[:3])}"
            f"{', ...' if len(compressed) > 3 else ''}); pass keras_compress.strip(teacher)."
        )
    total = int(backbone.num_layers)
    if not checks.is_integer(num_layers) or not (
        1 <= num_layers <= total
    ):
        raise ValueError(
            f"make_student: `num_layers` must be an integer from 1 to the teacher's {total} "
            f"transformer layers; received {num_layers!r}."
        )
    if shared:  # ALBERT: the student applies the same shared encoders fewer times
        mapping = _shared_layer_map(backbone, layer_map, num_layers, len(encoders))
    else:
        mapping = _resolve_layer_map(layer_map, num_layers, total)
    chosen = [encoders[i] for i in mapping]
    attentions = [encoder._self_attention_layer for encoder in chosen]
    intermediates = [encoder._feedforward_intermediate_dense for encoder in chosen]
    max_neurons = min(layer.units for layer in intermediates)
    max_heads = min(layer.num_heads for layer in attentions)
    if intermediate_dim is None:
        intermediate_dim = max_neurons
    _check_width("intermediate_dim", intermediate_dim, max_neurons, "feed-forward neurons")
    _check_width("num_heads", num_heads, max_heads, "attention heads")

    head_scores, neuron_scores = _scores(
        teacher, mapping, attentions, intermediates, intermediate_dim, num_heads, data, num_batches
    )
    kept_neurons = [importance.top_k(score, intermediate_dim) for score in neuron_scores]
    kept_heads = [
        importance.top_k(score, num_heads) if num_heads is not None else np.arange(score.size)
        for score in head_scores
    ]

    config = backbone.get_config()
    config.update(num_layers=num_layers, intermediate_dim=int(intermediate_dim))
    student_backbone = type(backbone).from_config(config)
    task_config = teacher.get_config()
    task_config.update(backbone=student_backbone, preprocessor=teacher.preprocessor,
                       name=f"{teacher.name}_student")
    student = type(teacher).from_config(task_config)

    student_encoders, _ = _encoders(student_backbone)
    for layer in student_backbone.layers:  # embeddings, their norm, the pooler
        if layer.weights and not any(layer is e for e in student_encoders):
            layer.set_weights(backbone.get_layer(layer.name).get_weights())
    for layer in student.layers:  # the classification head (pooled dense, output dense)
        if layer.weights and layer is not student_backbone:
            layer.set_weights(teacher.get_layer(layer.name).get_weights())

    replacements = {}
    for j, (source, target) in enumerate(zip(chosen, student_encoders)):
        for name in ("_self_attention_layer_norm", "_feedforward_layer_norm"):
            getattr(target, name).set_weights(getattr(source, name).get_weights())
        _copy_ffn(source, target, kept_neurons[j])
        attention = _sliced_attention(source._self_attention_layer, target._self_attention_layer,
                                      kept_heads[j])
        if attention is not None:
            replacements[id(target._self_attention_layer)] = attention
    if replacements:
        swap_layers(student, lambda layer, path: (
            (lambda old: replacements[id(old)]) if id(layer) in replacements else None
        ))
    object.__setattr__(student, "_keras_compress_student", {
        "layer_map": "shared" if shared else list(mapping),
        "heads": [k.tolist() for k in kept_heads],
        "neurons": [k.tolist() for k in kept_neurons],
    })
    return student


def _shared_layer_map(backbone, layer_map, num_layers, count):
    """Every shared encoder, once (ALBERT): the student's depth is its repetitions."""
    if not (isinstance(layer_map, str) and layer_map == "uniform"):
        raise ValueError(
            "make_student: the teacher shares its encoders across layers (ALBERT), so "
            f"`layer_map` does not apply; leave it 'uniform'. Received {layer_map!r}."
        )
    groups = int(backbone.num_groups)
    if num_layers % groups:
        raise ValueError(
            f"make_student: `num_layers` must be a multiple of the teacher's {groups} encoder "
            f"groups (ALBERT); received {num_layers!r}."
        )
    return list(range(count))


def _resolve_layer_map(layer_map, num_layers, total):
    if isinstance(layer_map, str):
        if layer_map != "uniform":
            raise ValueError(
                f"make_student: `layer_map` must be 'uniform' or a list of {num_layers} teacher "
                f"layer indices; received {layer_map!r}."
            )
        return uniform_layer_map(total, num_layers)
    if not isinstance(layer_map, (list, tuple)):
        raise TypeError(
            f"make_student: `layer_map` must be 'uniform' or a list of {num_layers} teacher "
            f"layer indices; received {type(layer_map).__name__}."
        )
    if len(layer_map) != num_layers:
        raise ValueError(
            f"make_student: `layer_map` must list one teacher layer per student layer "
            f"({num_layers}); received {len(layer_map)}: {list(layer_map)}."
        )
    for index in layer_map:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not (
            0 <= index < total
        ):
            raise ValueError(
                f"make_student: `layer_map` entries must be teacher layer indices from 0 to "
                f"{total - 1}; received {index!r} in {list(layer_map)}."
            )
    return [int(index) for index in layer_map]


def _check_width(argument, value, maximum, what):
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not (
        1 <= value <= maximum
    ):
        raise ValueError(
            f"make_student: `{argument}` must be an integer from 1 to {maximum} (the teacher's "
            f"{what} per chosen layer); received {value!r}."
        )


def _scores(teacher, mapping, attentions, intermediates, intermediate_dim, num_heads, data,
            num_batches):
    """`(head scores, neuron scores)` per chosen teacher layer (`pruning.importance`)."""
    narrow_ffn = any(layer.units != intermediate_dim for layer in intermediates)
    narrow_heads = num_heads is not None and any(a.num_heads != num_heads for a in attentions)
    if data is None or not (narrow_ffn or narrow_heads):
        return importance.structure_scores(teacher, heads=attentions, neurons=intermediates)
    # Gradient scores need the gates of the compression layers: score a swapped copy.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*compile.*")
        warnings.filterwarnings("ignore", message=".*optimizer.*")
        scored = copy.deepcopy(teacher)
    _, scored_encoders, _ = encoder_parts(scored, "make_student", "teacher")
    swap_layers(scored, {keras.layers.MultiHeadAttention: PrunableAttention,
                         keras.layers.Dense: MaskedDense},
                include="|".join(rf"(^|/){re.escape(e.name)}(/|$)" for e in scored_encoders))
    scored.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    _, scored_encoders, _ = encoder_parts(scored, "make_student", "teacher")
    encoders = [scored_encoders[i] for i in mapping]
    return importance.structure_scores(
        scored,
        heads=[e._self_attention_layer for e in encoders],
        neurons=[e._feedforward_intermediate_dense for e in encoders],
        data=data,
        num_batches=num_batches,
    )


def _copy_ffn(source, target, kept):
    """Copies the teacher FFN's neurons `kept` into the student's (already narrow) FFN."""
    intermediate, output = slicing.keep_neurons(
        source._feedforward_intermediate_dense, source._feedforward_output_dense, kept
    )
    target._feedforward_intermediate_dense.set_weights(intermediate.get_weights())
    target._feedforward_output_dense.set_weights(output.get_weights())


def _sliced_attention(source, target, kept):
    """Copies heads `kept` of `source` into `target`; a smaller replacement if they differ in
    number (returned), else None."""
    if target.key_dim != source.key_dim:
        raise ValueError(
            f"make_student: teacher attention '{source.name}' has head size {source.key_dim} "
            f"but the student's has {target.key_dim}; the student must keep the teacher's "
            "hidden size and head count in its config."
        )
    sliced = slicing.keep_heads(source, kept)
    if sliced.num_heads != target.num_heads:
        return sliced
    target.set_weights(sliced.get_weights())
    return None
