"""Replacing one layer object by another inside a built parent, in place.

Keras 3 locks a layer's tracked state after `build()`; Keras itself mutates
built layers (`Dense.quantize`, `enable_lora`) by unlocking the tracker. We
rewire every reference the parent holds: attributes, containers, the tracked
`_layers` list and, for Functional models, the graph nodes. Each change is
recorded so that a failed swap can be undone.
"""

from keras.src.ops.node import KerasHistory  # private; stable since Keras 3.0


def replace_in_parent(parent, old, new):
    """Makes `parent` use `new` wherever it used `old`. Returns an undo function."""
    undo = []
    _replace_attributes(parent, old, new, undo)
    _replace_tracked(parent, old, new, undo)
    for graph in _graphs(parent):
        if graph is not parent:
            _replace_tracked(graph, old, new, undo)
        _replace_in_graph(graph, old, new, undo)
    if not undo:
        raise ValueError(f"Layer '{old.name}' is not a sub-layer of '{parent.name}'.")

    def undo_all():
        for step in reversed(undo):
            step()

    return undo_all


def _replace_attributes(parent, old, new, undo):
    for attr, value in list(vars(parent).items()):
        if value is old:
            object.__setattr__(parent, attr, new)
            undo.append(lambda attr=attr: object.__setattr__(parent, attr, old))
        elif isinstance(value, list) and attr != "_layers":
            _replace_in_list(value, old, new, undo)
        elif isinstance(value, dict):
            for key, item in list(value.items()):
                if item is old:
                    _set_item(value, key, new, dict)
                    undo.append(lambda d=value, k=key: _set_item(d, k, old, dict))
        elif isinstance(value, tuple) and any(item is old for item in value):
            replaced = type(value)(new if item is old else item for item in value)
            object.__setattr__(parent, attr, replaced)
            undo.append(lambda attr=attr, v=value: object.__setattr__(parent, attr, v))


def _replace_in_list(values, old, new, undo):
    for i, item in enumerate(values):
        if item is old:
            _set_item(values, i, new, list)
            undo.append(lambda i=i: _set_item(values, i, old, list))


def _set_item(container, key, value, builtin):
    """Sets an item without Keras's tracking (which refuses after `build`).

    Keras's tracked containers are real list/dict subclasses: the builtin
    `__setitem__` bypasses their tracking. TensorFlow's wrappers keep their
    items elsewhere (`len` differs from the builtin view): use their own.
    """
    if builtin in type(container).__mro__ and builtin.__len__(container) == len(container):
        builtin.__setitem__(container, key, value)
    else:
        container[key] = value


def _replace_tracked(parent, old, new, undo):
    layers = getattr(parent, "_layers", None)
    if layers is None:
        return
    _replace_in_list(layers, old, new, undo)
    tracker = getattr(parent, "_tracker", None)
    if tracker is not None and id(old) in tracker.stored_ids.get("layers", ()):
        ids = tracker.stored_ids["layers"]
        ids.discard(id(old))
        ids.add(id(new))

        def restore():
            ids.discard(id(new))
            ids.add(id(old))

        undo.append(restore)


def _graphs(parent):
    """Functional graphs owned by `parent` (itself, or a Sequential's)."""
    graphs = []
    if hasattr(parent, "_nodes_by_depth"):
        graphs.append(parent)
    inner = getattr(parent, "_functional", None)
    if inner is not None:
        graphs.append(inner)
    return graphs


def _replace_in_graph(graph, old, new, undo):
    for nodes in graph._nodes_by_depth.values():
        for node in nodes:
            if node.operation is not old:
                continue
            node.operation = new
            undo.append(lambda node=node: setattr(node, "operation", old))
            for tensor in node.outputs:
                history = tensor._keras_history
                tensor._keras_history = KerasHistory(new, history.node_index, history.tensor_index)
                undo.append(lambda t=tensor, h=history: setattr(t, "_keras_history", h))
    for attr in ("_inbound_nodes", "_outbound_nodes"):
        previous = getattr(new, attr)
        object.__setattr__(new, attr, getattr(old, attr))
        undo.append(lambda attr=attr, p=previous: object.__setattr__(new, attr, p))
    # Functional keeps "{id(operation)}_ib-{node_index}" keys of its own nodes.
    old_prefix, new_prefix = f"{id(old)}_ib-", f"{id(new)}_ib-"
    keys = graph._nodes
    renamed = {k for k in keys if k.startswith(old_prefix)}
    if renamed:
        keys -= renamed
        keys |= {new_prefix + k[len(old_prefix):] for k in renamed}

        def restore_keys():
            keys.difference_update({new_prefix + k[len(old_prefix):] for k in renamed})
            keys.update(renamed)

        undo.append(restore_keys)
    _replace_in_list(graph._operations, old, new, undo)
    for operations in graph._operations_by_depth.values():
        _replace_in_list(operations, old, new, undo)
