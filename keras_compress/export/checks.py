"""What `to_tflite` accepts: the model's inputs and output, lengths, label names."""

from keras_compress.export import buckets


def check_choice(argument, value, allowed):
    """Raises `ValueError` naming `argument` unless `value` is one of `allowed`."""
    if value not in allowed:
        raise ValueError(f"`{argument}` must be one of {allowed}; received {value!r}.")


def check_model(model):
    """`({input name: dtype}, num_classes)`; clear errors for unsupported models."""
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model; received {type(model).__name__}.")
    inputs, output = structure(model, "input"), structure(model, "output")
    if inputs is None or output is None:
        raise ValueError(
            f"to_tflite needs a built functional model with named inputs; model "
            f"'{model.name}' has no defined inputs (call it once, or use a keras-hub task)."
        )
    expected = "a dict of (batch, sequence) integer inputs with token_ids and padding_mask"
    if not isinstance(inputs, dict) or not {"token_ids", "padding_mask"} <= set(inputs):
        raise ValueError(
            f"to_tflite exports text classifiers whose inputs are {expected} "
            f"(keras-hub style); model '{model.name}' takes {describe(inputs)}."
        )
    dtypes = {}
    for name, tensor in inputs.items():
        dtype = keras.backend.standardize_dtype(tensor.dtype)
        if name not in buckets.SEQUENCE_INPUTS or len(tensor.shape) != 2 or not (
            "int" in dtype or dtype == "bool"
        ):
            raise ValueError(
                f"to_tflite exports text classifiers whose inputs are {expected}; model "
                f"'{model.name}' has input '{name}' of shape {tuple(tensor.shape)} and "
                f"dtype {dtype} (allowed names: {buckets.SEQUENCE_INPUTS})."
            )
        dtypes[name] = dtype
    if isinstance(output, (list, tuple, dict)) or len(output.shape) != 2:
        raise ValueError(
            f"to_tflite exports classifiers with one (batch, classes) output; model "
            f"'{model.name}' returns {describe(output)}."
        )
    return dtypes, int(output.shape[-1])


def functional_view(model):
    """`model` itself when it has named inputs (functional); a subclassed model called
    once on a dict of `(batch, sequence)` inputs (`token_ids`, `padding_mask`, ...) becomes
    `keras.Model(inputs, model(inputs))`: the same layers and weights, with the named
    inputs the exporter reads. Anything else is returned as it is (`check_model` says why).
    """
    import keras

    if not isinstance(model, keras.Model) or structure(model, "input") is not None:
        return model
    shapes = getattr(model, "_build_shapes_dict", None) or {}
    shape = next(iter(shapes.values()), None) if len(shapes) == 1 else None
    if not isinstance(shape, dict) or not set(shape) <= set(buckets.SEQUENCE_INPUTS) or any(
        len(tuple(dims)) != 2 for dims in shape.values()
    ):
        return model
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in sorted(shape)}
    view = keras.Model(inputs, model(inputs), name=model.name)
    if getattr(model, "preprocessor", None) is not None:
        view.preprocessor = model.preprocessor
    return view


def structure(model, name):
    """`model.input` / `model.output`, falling back to the `inputs` / `outputs` lists."""
    try:
        return getattr(model, name)
    except (AttributeError, ValueError):
        listed = getattr(model, name + "s", None)
        return listed[0] if listed and len(listed) == 1 else listed or None


def describe(tensors):
    """Shapes and dtypes of a structure of tensors, for error messages."""
    import keras

    return str(keras.tree.map_structure(lambda t: f"{tuple(t.shape)} {t.dtype}", tensors))


def resolve_lengths(model, sequence_lengths, input_dtypes):
    """The bucket lengths: checked `sequence_lengths`, or the model's own length."""
    static = {model.input[name].shape[1] for name in input_dtypes} - {None}
    if sequence_lengths is None:
        preprocessor = getattr(model, "preprocessor", None)
        sequence_lengths = next(iter(static), None) or getattr(preprocessor, "sequence_length", None)
        if sequence_lengths is None:
            raise ValueError(
                "`sequence_lengths` is required: the model has no static sequence length "
                "and no preprocessor with one. Pass e.g. sequence_lengths=(16, 32, 64, 128)."
            )
    backbone = getattr(model, "backbone", model)
    lengths = buckets.check_sequence_lengths(
        sequence_lengths, getattr(backbone, "max_sequence_length", None)
    )
    if static and set(lengths) != static:
        raise ValueError(
            f"`sequence_lengths` {lengths} do not match the model's static sequence "
            f"length {sorted(static)}; rebuild the model with a dynamic length to use buckets."
        )
    return lengths


def own_length(model, input_dtypes):
    """The length the model trained at and serves at: its static input length, else its
    preprocessor's `sequence_length`; `None` when it has neither."""
    static = {model.input[name].shape[1] for name in input_dtypes} - {None}
    if static:
        return int(max(static))
    length = getattr(getattr(model, "preprocessor", None), "sequence_length", None)
    return int(length) if length else None


def check_label_names(label_names, num_classes):
    """`label_names` as a list of `num_classes` strings (or `None`)."""
    if label_names is None:
        return None
    label_names = [str(name) for name in label_names]
    if len(label_names) != num_classes:
        raise ValueError(
            f"`label_names` has {len(label_names)} names; the model has {num_classes} classes."
        )
    return label_names


def output_kind(model):
    """`"probabilities"` for a softmax output, else `"logits"`."""
    import keras

    activation = getattr(model, "activation", None)
    return "probabilities" if activation is keras.activations.softmax else "logits"


def vocabulary_size(model):
    """The backbone's vocabulary size (100 if unknown), for random parity inputs."""
    backbone = getattr(model, "backbone", model)
    return int(getattr(backbone, "vocabulary_size", None) or 100)
