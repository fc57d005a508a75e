"""`swap_layers`: put compression layers into an already built model."""

import warnings

import keras

from keras_compress import checks
from keras_compress.layers import PrunableAttention
from keras_compress.layers.base import CompressedLayer
from keras_compress.surgery import persist, tree
from keras_compress.surgery.replace import replace_in_parent


def swap_layers(
    model,
    mapping_or_policy,
    *,
    include=None,
    exclude=None,
    include_embeddings=False,
    include_classifier=False,
):
    """Replaces layers of a built model by compression layers, **in place**.

    Works on Sequential and Functional models and on layers nested inside
    subclassed layers (keras-hub's `BertBackbone` -> `TransformerEncoder` ->
    its attention and feed-forward layers). Each new layer is built from the
    old one with its weights, so the model's outputs do not change until
    compression starts.

    The swap is all-or-nothing: every new layer is created first, and the
    model is modified only when all succeeded; on any error the model is left
    as it was. The swapped model keeps its class, saves to `.keras` and loads
    back (with `keras_compress` imported). Call `compile()` after swapping:
    the old layers' optimizer state does not carry over.

    Args:
        model: a built `keras.Model` (or layer).
        mapping_or_policy: either a dict `{keras layer class: target}`,
            matched with `isinstance` (subclasses match too; the first
            matching key wins), or a callable `policy(layer, path) -> target
            or None`. A target is a `keras_compress` layer class (built with
            its `from_layer`) or a callable `fn(layer) -> new layer`, e.g.
            `functools.partial(KMeansDense.from_layer, n_clusters=4)`.
            Layers that already are `keras_compress` layers are skipped unless
            a dict key names a `keras_compress` class.
        include: only swap layers whose path (`"backbone/transformer_layer_0/
            feedforward_intermediate_dense"`) matches this regex (`re.search`),
            or for which `include(layer, path)` is true.
        exclude: never swap layers matched by this regex or predicate.
        include_embeddings: also swap embedding layers (default: skipped).
        include_classifier: also swap the layers that produce the model's
            outputs (default: skipped).

    Returns:
        `model` itself, for chaining.

    Example:

    >>> import keras, keras_compress
    >>> from keras_compress.layers import MaskedDense
    >>> inputs = keras.Input((8,))
    >>> hidden = keras.layers.Dense(16, activation="relu")(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    >>> _ = keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense})
    >>> [type(layer).__name__ for layer in model.layers]
    ['InputLayer', 'MaskedDense', 'Dense']
    """
    checks.check_type("model", model, keras.layers.Layer, "a built keras.Model (or layer)",
                      "swap_layers")
    if not getattr(model, "built", False):
        raise ValueError(
            f"swap_layers: model '{getattr(model, 'name', model)}' is not built; "
            "call it on data or build it first."
        )
    policy = _as_policy(mapping_or_policy)
    include = scope_predicate(include, "include")
    exclude = scope_predicate(exclude, "exclude")
    heads = {id(layer) for layer in tree.output_layers(model)}
    asks_for_attention = [_asks_for_attention(mapping_or_policy)]
    left = {}  # attention layers left unswapped: path -> why

    def selected(layer, path):
        if not include_embeddings and tree.is_embedding(layer):
            return None
        if not include_classifier and id(layer) in heads:
            return None
        if not in_scope(layer, path, include, exclude):
            return None
        target = policy(layer, path)
        if _is_attention_target(target):
            asks_for_attention[0] = True
        reason = _attention_left_because(layer, target)
        if reason:
            left[path] = reason
            return None
        return target

    pending, new_records = _plan(model, selected)
    _apply(pending)
    if left and asks_for_attention[0]:
        listed = "; ".join(f"'{path}' ({why})" for path, why in left.items())
        warnings.warn(
            f"swap_layers: {len(left)} attention layer(s) left unswapped, so HeadPruning "
            f"will not prune them: {listed}.",
            stacklevel=2,
        )
    if new_records:
        persist.mark(model, new_records)
        _forget_compiled_functions(model)
    return model


def _plan(model, selected):
    """Builds every new layer; returns the changes to make and their records.

    Swaps inside a newly built layer are made on it at once (it is not part of
    the model yet); swaps in the model itself are only collected.
    """
    made = {}
    pending = []
    new_records = []

    def visit(parent, path_prefix, in_model):
        for child in tree.children(parent):
            path = path_prefix + (child.name,)
            path_str = "/".join(path)
            if id(child) in made:
                new = made[id(child)]
            else:
                target = selected(child, path_str)
                if target is None:
                    visit(child, path, in_model)
                    continue
                new = _build(target, child, path_str)
                made[id(child)] = new
                new_records.append(
                    {"path": list(path), "layer": keras.saving.serialize_keras_object(new)}
                )
                visit(new, path, False)
            if in_model:
                pending.append((parent, child, new))
            else:
                replace_in_parent(parent, child, new)

    visit(model, (), True)
    # Nested swaps changed the new layers after they were serialized above.
    for record, new in zip(new_records, made.values()):
        record["layer"] = keras.saving.serialize_keras_object(new)
    return pending, new_records


def _build(target, layer, path):
    try:
        if isinstance(target, type) and issubclass(target, CompressedLayer):
            new = target.from_layer(layer)
        elif callable(target):
            new = target(layer)
        else:
            raise TypeError(
                f"a swap target must be a keras_compress layer class or a callable "
                f"returning a layer; received {target!r}"
            )
    except (ValueError, TypeError, NotImplementedError) as error:
        raise type(error)(f"swap_layers: cannot swap layer '{path}': {error}") from error
    if not isinstance(new, keras.layers.Layer):
        raise TypeError(
            f"swap_layers: the target for layer '{path}' returned {type(new).__name__}, "
            "not a keras Layer."
        )
    if new.name != layer.name:
        raise ValueError(
            f"swap_layers: the new layer for '{path}' is named '{new.name}'; it must keep "
            f"the name '{layer.name}' so that saved weights and paths still match."
        )
    return new


def _is_attention_target(target):
    return isinstance(target, type) and issubclass(target, PrunableAttention)


def _asks_for_attention(mapping_or_policy):
    """Whether a dict mapping swaps attention layers (a callable tells by what it returns)."""
    if not isinstance(mapping_or_policy, dict):
        return False
    return any(
        (isinstance(key, type) and issubclass(key, keras.layers.MultiHeadAttention))
        or _is_attention_target(target)
        for key, target in mapping_or_policy.items()
    )


def _attention_left_because(layer, target):
    """Why an attention layer stays as it is (None: not attention, or swappable).

    `PrunableAttention` replaces plain `MultiHeadAttention` only; other
    attention layers (keras-hub's DeBERTa `DisentangledSelfAttention`,
    RoFormer's `RoformerAttention`, subclasses overriding `call`) keep
    their class, and their heads are not pruned.
    """
    if isinstance(layer, CompressedLayer):
        return None
    name = type(layer).__name__
    if isinstance(layer, keras.layers.MultiHeadAttention):
        if not _is_attention_target(target):
            return None
        for method in ("call", "_compute_attention"):
            if getattr(type(layer), method) is not getattr(keras.layers.MultiHeadAttention, method):
                return f"a {name} that overrides MultiHeadAttention.{method}"
        if getattr(layer, "_use_gate", False):
            return "a MultiHeadAttention with use_gate=True"
        return None
    if target is None and name.endswith("Attention"):
        return f"a {name}, not a keras.layers.MultiHeadAttention"
    return None


def _apply(pending):
    undos = []
    try:
        for parent, old, new in pending:
            undos.append(replace_in_parent(parent, old, new))
    except Exception:
        for undo in reversed(undos):
            undo()
        raise


def _as_policy(mapping_or_policy):
    if isinstance(mapping_or_policy, dict):
        for key in mapping_or_policy:
            if not (isinstance(key, type) and issubclass(key, keras.layers.Layer)):
                raise TypeError(
                    "swap_layers: mapping keys must be keras Layer classes; "
                    f"received {key!r}."
                )
        mapping = dict(mapping_or_policy)

        def policy(layer, path):
            for source, target in mapping.items():
                if not isinstance(layer, source):
                    continue
                if isinstance(layer, CompressedLayer) and not issubclass(source, CompressedLayer):
                    return None
                if isinstance(target, type) and type(layer) is target:
                    return None
                return target
            return None

        return policy
    if callable(mapping_or_policy):
        return mapping_or_policy
    raise TypeError(
        "swap_layers: `mapping_or_policy` must be a dict {layer class: target} or a "
        f"callable policy(layer, path); received {type(mapping_or_policy).__name__}."
    )


def in_scope(layer, path, include=None, exclude=None):
    """Whether `(layer, path)` passes `include` and not `exclude` (predicates; None: no filter)."""
    if include is not None and not include(layer, path):
        return False
    return exclude is None or not exclude(layer, path)


def scope_predicate(pattern, argument="include", owner="swap_layers"):
    """`pattern` (regex on the layer path, predicate, or None) as a predicate `(layer, path)`.

    The one way `swap_layers` and the compression callbacks read their
    `include` / `exclude` arguments; use it with `in_scope`.

    >>> import keras
    >>> dense_only = scope_predicate("dense", "include")
    >>> in_scope(keras.layers.Dense(2), "model/dense", include=dense_only)
    True
    >>> in_scope(keras.layers.Dense(2), "model/output", include=dense_only)
    False
    """
    if pattern is None or callable(pattern):
        return pattern
    if isinstance(pattern, str):
        regex = checks.compile_regex(argument, pattern, owner)
        return lambda layer, path: regex.search(path) is not None
    raise TypeError(
        f"{owner}: `{argument}` must be a regex string or a callable "
        f"(layer, path) -> bool; received {type(pattern).__name__}."
    )


def _forget_compiled_functions(model):
    for attr in ("train_function", "test_function", "predict_function"):
        if getattr(model, attr, None) is not None:
            setattr(model, attr, None)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "built", False):
        warnings.warn(
            f"swap_layers: model '{model.name}' was already trained with an optimizer "
            "whose state belongs to the old layers; call `model.compile(...)` again "
            "before `fit`.",
            stacklevel=3,
        )
