"""Where a model's prunable structures are: attention heads and FFN neurons.

Feed-forward (FFN) pairs are found three ways, in this order:

1. pairs declared on the model (`declare_pairs`, which
   `NeuronPruning(pairs=...)` calls): the escape hatch where discovery
   cannot see the structure (a subclassed model's `call`);
2. the functional graph of the model and of every functional sub-model
   (a Sequential's too): a `MaskedDense` whose output goes, only through
   element-wise layers that map 0 to 0 (`Activation`, `ReLU`, `Dropout`, ...),
   into exactly one `Dense`/`MaskedDense` and nowhere else;
3. a traced call, for every other layer (or subclassed model) holding two or
   more `MaskedDense` layers (keras-hub's `TransformerEncoder`, DeBERTa's and
   RoFormer-v2's encoders, a user's subclassed block: an FFN in `call`, not in
   a graph): the model runs once, eagerly, on made-up inputs of its own input
   shapes, and a `MaskedDense` whose input is the output of another under the
   same layer (as it is, or through relu / gelu / silu / tanh) reads it.

A pair is valid only when the intermediate activation maps 0 to 0 (relu,
gelu, silu, tanh, linear): a pruned neuron then outputs exactly zero and
can be cut from both matrices without changing the outputs.
"""

import keras
import numpy as np

from keras_compress.layers import MaskedDense, PrunableAttention, masked_dense
from keras_compress.surgery import tree

PAIRS_ATTRIBUTE = "_keras_compress_ffn_pairs"
ELEMENTWISE = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
)


def attention_layers(model):
    """`[(path, PrunableAttention)]` in model order."""
    return [
        ("/".join(path), layer)
        for path, _, layer in tree.walk(model)
        if isinstance(layer, PrunableAttention)
    ]


def ffn_pairs(model, pairs=None):
    """`[(path, intermediate, output)]` for each feed-forward block with a `MaskedDense` intermediate.

    `path` names the block (the layer or functional model holding the pair;
    `""` for `model` itself). `pairs` adds user-given pairs (see
    `resolve_pairs`) to those declared on `model` and those discovered.

    Example:

    >>> import keras, keras_compress
    >>> from keras_compress.layers import MaskedDense
    >>> model = keras.Sequential([keras.Input((4,)),
    ...                           keras.layers.Dense(8, activation="relu", name="up"),
    ...                           keras.layers.Dense(2, name="down")])
    >>> _ = keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense},
    ...                                include_classifier=True)
    >>> [(i.name, o.name) for _, i, o in ffn_pairs(model)]
    [('up', 'down')]
    """
    found, seen = [], set()

    def add(path, intermediate, output):
        if id(intermediate) in seen or not isinstance(intermediate, MaskedDense):
            return
        if not _maps_zero_to_zero(intermediate.activation):
            return
        seen.add(id(intermediate))
        found.append((path, intermediate, output))

    given = resolve_pairs(model, pairs) if pairs is not None else []
    for intermediate, output in given + resolve_pairs(model, declared_pairs(model)):
        add("", intermediate, output)
    owners = [((), model)] + [(p, layer) for p, _, layer in tree.walk(model)]
    for path, owner in owners:
        for graph in _graphs(owner):
            for intermediate, output in _graph_pairs(graph):
                add("/".join(path), intermediate, output)
    hidden = {id(owner): "/".join(path) for path, owner in owners
              if not _graphs(owner) and _direct_masked_dense(owner) - seen}
    if hidden:
        for owner, intermediate, output in _traced_pairs(model, hidden):
            add(hidden[owner], intermediate, output)
    return found


def consumers(model):
    """`{id(intermediate): output}`: the layer reading each FFN intermediate layer."""
    return {id(intermediate): output for _, intermediate, output in ffn_pairs(model)}


def resolve_pairs(model, pairs):
    """`[(intermediate, output)]` layers of `model` from layers, names or paths.

    Each item of `pairs` is `(intermediate, output)`, each a layer of `model`,
    a layer path (`"encoder/ffn_up"`) or a layer name unique in `model`.
    """
    if pairs is None:
        return []
    if isinstance(pairs, (str, bytes)) or not hasattr(pairs, "__iter__"):
        raise TypeError(
            "`pairs` must be a list of (intermediate, output) layers, names or paths; "
            f"received {type(pairs).__name__}."
        )
    walked = [("/".join(path), layer) for path, _, layer in tree.walk(model)]
    resolved = []
    for pair in pairs:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise ValueError(
                f"`pairs`: each item must be an (intermediate, output) pair; received {pair!r}."
            )
        intermediate, output = (_find_layer(walked, item) for item in pair)
        if not isinstance(intermediate, MaskedDense):
            raise ValueError(
                f"`pairs`: the intermediate layer '{intermediate.name}' is a "
                f"{type(intermediate).__name__}; swap keras.layers.Dense for MaskedDense first."
            )
        if not isinstance(output, keras.layers.Dense):
            raise ValueError(
                f"`pairs`: the output layer '{output.name}' is a {type(output).__name__}; "
                "it must be a Dense or MaskedDense reading the intermediate layer's units."
            )
        if output.kernel.shape[0] != intermediate.units:
            raise ValueError(
                f"`pairs`: '{output.name}' reads {output.kernel.shape[0]} features, but "
                f"'{intermediate.name}' has {intermediate.units} units; not an FFN pair."
            )
        resolved.append((intermediate, output))
    return resolved


def declare_pairs(model, pairs):
    """Records user-given FFN pairs on `model` (by path) for `strip` and `.keras` saving."""
    walked = {id(layer): list(path) for path, _, layer in tree.walk(model)}
    paths = [[walked[id(i)], walked[id(o)]] for i, o in resolve_pairs(model, pairs)]
    kept = [p for p in getattr(model, PAIRS_ATTRIBUTE, []) if p not in paths]
    object.__setattr__(model, PAIRS_ATTRIBUTE, kept + paths)


def forget_pairs(model):
    """Drops the pairs recorded by `declare_pairs` (after `strip` consumed them)."""
    if PAIRS_ATTRIBUTE in vars(model):
        object.__delattr__(model, PAIRS_ATTRIBUTE)


def declared_pairs(model):
    """The pairs recorded by `declare_pairs`, as `[("a/b", "a/c")]` paths."""
    return [tuple("/".join(p) for p in pair) for pair in getattr(model, PAIRS_ATTRIBUTE, [])]


def _find_layer(walked, item):
    if isinstance(item, keras.layers.Layer):
        for _, layer in walked:
            if layer is item:
                return layer
        raise ValueError(f"`pairs`: layer '{item.name}' is not part of the model.")
    if not isinstance(item, str):
        raise TypeError(f"`pairs`: expected a layer, a layer name or a path; received {item!r}.")
    by_path = [layer for path, layer in walked if path == item]
    by_name = [layer for _, layer in walked if layer.name == item]
    if by_path:
        return by_path[0]
    if len(by_name) == 1:
        return by_name[0]
    if by_name:
        raise ValueError(f"`pairs`: several layers are named '{item}'; give its path instead.")
    raise ValueError(f"`pairs`: no layer named or at path '{item}' in the model.")


def _graphs(layer):
    graphs = [layer] if hasattr(layer, "_nodes_by_depth") else []
    inner = getattr(layer, "_functional", None)
    return graphs + ([inner] if inner is not None else [])


def _graph_pairs(graph):
    """`(intermediate, output)` pairs joined through element-wise layers in a functional graph."""
    by_depth = graph._nodes_by_depth
    nodes = [node for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]]
    readers = {}
    for node in nodes:
        for tensor in node.input_tensors:
            readers.setdefault(id(tensor), []).append(node)
    outputs = {id(t) for t in keras.tree.flatten(graph._outputs)}
    calls = {}
    for node in nodes:
        calls[id(node.operation)] = calls.get(id(node.operation), 0) + 1
    pairs = []
    for node in nodes:
        if not isinstance(node.operation, MaskedDense) or calls[id(node.operation)] != 1:
            continue
        tensor = node.outputs[0]
        while True:
            if id(tensor) in outputs:
                break
            following = readers.get(id(tensor), [])
            if len(following) != 1:
                break
            step = following[0]
            op = step.operation
            if isinstance(op, ELEMENTWISE) and len(step.input_tensors) == 1:
                if isinstance(op, keras.layers.Activation) and not _maps_zero_to_zero(op.activation):
                    break
                tensor = step.outputs[0]
                continue
            # Both sides swapped: a plain Dense reader (e.g. the classifier head, which
            # swap_layers skips by default) is not a block the user chose to compress.
            if isinstance(op, MaskedDense) and calls[id(op)] == 1:
                pairs.append((node.operation, op))
            break
    return pairs


TRACED_ACTIVATIONS = (lambda x: x, keras.activations.relu, keras.activations.gelu,
                      keras.activations.silu, keras.activations.tanh)


def _direct_masked_dense(layer):
    """Ids of the `MaskedDense` layers directly under `layer` (two or more, else none)."""
    found = {id(child) for child in tree.children(layer) if isinstance(child, MaskedDense)}
    return found if len(found) >= 2 else set()


def _traced_pairs(model, owners):
    """`(owner id, intermediate, output)` for the pairs under `owners` (ids of layers whose
    FFN lives in `call`), seen in eager calls on made-up inputs: of `model`, and of the
    sub-models holding owners still unresolved (a `keras.distillation.Distiller`'s student).
    A `MaskedDense` reads another when its input is the other's output (the same tensor,
    or equal to it as it is or through an element-wise activation), both under one owner."""
    parent = {id(layer): id(above) for _, above, layer in tree.walk(model)}
    found, left = [], set(owners)
    for runnable in [model] + [m for _, _, m in tree.walk(model) if isinstance(m, keras.Model)]:
        inside = {id(layer) for _, _, layer in tree.walk(runnable)}
        if not left & inside:
            continue
        for pair in _pairs_in_one_call(runnable, left, parent):
            found.append(pair)
            left.discard(pair[0])
    return found


def _pairs_in_one_call(model, owners, parent):
    inputs = _made_up_inputs(model)
    if inputs is None:
        return []
    try:
        with masked_dense.recording_calls() as calls:
            model(inputs)
        calls = [call for call in calls if parent.get(id(call[0])) in owners]
        matches = {(id(a), id(b)): (a, b)
                   for index, (a, _, produced) in enumerate(calls)
                   for b, read, _ in calls[index + 1:]
                   if parent[id(b)] == parent[id(a)] and _reads(read, produced)}.values()
    except Exception:  # a model that cannot run on made-up inputs: nothing learnt
        return []
    # An FFN is one layer reading one layer; attention's value projection reaching the output
    # projection unchanged (made-up inputs can make attention an identity) is not.
    once = lambda layer, side: sum(m[side] is layer for m in matches) == 1  # noqa: E731
    return [(parent[id(a)], a, b) for a, b in matches if once(a, 0) and once(b, 1)]


def _reads(read, produced):
    """Whether a layer's input `read` is `produced`: the same tensor, or equal to it as it
    is or through an element-wise activation mapping 0 to 0."""
    if read is produced:
        return True
    read, produced = keras.ops.convert_to_numpy(read), keras.ops.convert_to_numpy(produced)
    return read.shape == produced.shape and any(
        np.allclose(read, keras.ops.convert_to_numpy(f(produced)), atol=1e-6)
        for f in TRACED_ACTIVATIONS)


def _made_up_inputs(model):
    """Inputs for one call of `model`: its functional inputs, or the one it was built on;
    every unknown dimension 4; `token_ids` random ids 1-3, other integer inputs 1 for a
    mask and 0 otherwise (valid for any embedding); float inputs random."""
    specs = _input_specs(model)
    if specs is None:
        return None
    rng = np.random.default_rng(0)

    def make(name, shape, dtype):
        shape = tuple(4 if d is None else d for d in shape)
        if "int" in dtype or dtype == "bool":
            if name == "token_ids":
                return rng.integers(1, 4, shape).astype(dtype)
            return np.full(shape, int("mask" in (name or "")), dtype)  # masks 1, ids 0
        return rng.normal(size=shape).astype(dtype)

    if isinstance(specs, dict):
        return {name: make(name, *spec) for name, spec in specs.items()}
    return make(None, *specs)


def _input_specs(model):
    """`(shape, dtype)` of the model's input, or a dict of them; None when unknown."""
    try:
        functional = model.input
    except (AttributeError, ValueError):
        functional = None
    if functional is not None:
        flat = keras.tree.flatten(functional)
        spec = {id(t): (tuple(t.shape), keras.backend.standardize_dtype(t.dtype)) for t in flat}
        if isinstance(functional, dict):
            return {name: spec[id(t)] for name, t in functional.items()}
        return spec[id(functional)] if len(flat) == 1 else None
    shapes = getattr(model, "_build_shapes_dict", None) or {}
    if len(shapes) != 1:
        return None
    (shape,) = shapes.values()
    if isinstance(shape, dict):
        return {name: (tuple(dims), "int32") for name, dims in shape.items()}
    return (tuple(shape), "float32") if isinstance(shape, (tuple, list)) else None


def _maps_zero_to_zero(activation):
    zeros = np.zeros((1, 3), "float32")
    try:
        value = keras.ops.convert_to_numpy(activation(keras.ops.convert_to_tensor(zeros)))
    except Exception:  # an activation that cannot run on a plain tensor: not trusted
        return False
    return value.shape == zeros.shape and bool(np.all(value == 0))
