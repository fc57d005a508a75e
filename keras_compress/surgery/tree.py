"""Walking a model's layer tree by layer names."""

import keras


def children(layer):
    """Direct sub-layers of `layer`, in tracking order (inputs excluded)."""
    return [
        child
        for child in layer._flatten_layers(include_self=False, recursive=False)
        if not isinstance(child, keras.layers.InputLayer)
    ]


def walk(model):
    """Yields `(path, parent, layer)` for every layer under `model`, parents first.

    `path` is the tuple of layer names from `model` (exclusive) down to `layer`.
    A layer reached twice (shared) is yielded once, at its first path.
    """
    seen = set()

    def visit(parent, prefix):
        for child in children(parent):
            if id(child) in seen:
                continue
            seen.add(id(child))
            path = prefix + (child.name,)
            yield path, parent, child
            yield from visit(child, path)

    yield from visit(model, ())


def find(model, path):
    """Returns `(parent, layer)` at `path` (a tuple of names) under `model`."""
    parent, layer = None, model
    for name in path:
        matches = [child for child in children(layer) if child.name == name]
        if not matches:
            raise ValueError(
                f"No layer named '{name}' under '{layer.name}' (looking for "
                f"'{'/'.join(path)}'). Children: {[c.name for c in children(layer)]}."
            )
        parent, layer = layer, matches[0]
    return parent, layer


def output_layers(model):
    """Layers whose outputs are `model`'s outputs (the classifier head)."""
    if isinstance(model, keras.Sequential):
        layers = children(model)
        return layers[-1:]
    outputs = getattr(model, "_outputs", None) if hasattr(model, "_nodes_by_depth") else None
    if not outputs:
        return []
    return [tensor._keras_history.operation for tensor in keras.tree.flatten(outputs)]


def is_embedding(layer):
    """Embedding-like layers (token, position, segment embeddings)."""
    return isinstance(layer, keras.layers.Embedding) or type(layer).__name__.endswith("Embedding")
