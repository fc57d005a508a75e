"""Keeping swapped layers through `get_config`, `.keras` save/load and deepcopy.

Many models rebuild their sub-layers from constructor arguments (keras-hub's
`BertBackbone` creates plain `TransformerEncoder`s, which create plain
`Dense` layers in `build`), so their config cannot say that a layer deep
inside was swapped. `swap_layers` therefore records each swap (path +
serialized new layer) on the model it was given, and gives that model a
subclass of its own class whose config wraps the original config with the
records. Loading (with `keras_compress` imported) rebuilds the original
model, then replays the swaps before Keras loads the weights.
"""

import keras
from keras.src.saving import object_registration, serialization_lib  # private Keras modules

from keras_compress.surgery import tree
from keras_compress.surgery.replace import replace_in_parent
from keras_compress.surgery.structure import PAIRS_ATTRIBUTE

REGISTERED_NAME = "keras_compress>SwappedModel"
_RECORDS = "_keras_compress_swaps"
_subclasses = {}


def records(model):
    """The swap records of `model` (empty if it was never swapped)."""
    return list(getattr(model, _RECORDS, ()))


def mark(model, new_records):
    """Stores swap records on `model` so that its config carries them."""
    kept = records(model)
    for record in new_records:
        path = tuple(record["path"])
        kept = [r for r in kept if tuple(r["path"])[: len(path)] != path]
    object.__setattr__(model, _RECORDS, kept + list(new_records))
    if not hasattr(type(model), "_keras_compress_base"):
        model.__class__ = _swapped_subclass(type(model))


def unmark(model):
    """Gives `model` back its original class and drops its swap records."""
    base = getattr(type(model), "_keras_compress_base", None)
    if base is not None:
        model.__class__ = base
    if _RECORDS in vars(model):
        object.__delattr__(model, _RECORDS)


def replay(model, swap_records):
    """Re-applies recorded swaps to a freshly built `model` (weights are not copied)."""
    for record in swap_records:
        parent, current = tree.find(model, tuple(record["path"]))
        if keras.saving.serialize_keras_object(current) == record["layer"]:
            continue  # the model's own config already restored this layer
        new = keras.saving.deserialize_keras_object(record["layer"])
        replace_in_parent(parent, current, new)


def _base_identity(base):
    identity = serialization_lib.serialize_with_public_class(base, {})
    if identity is None:
        identity = {
            "module": base.__module__,
            "class_name": base.__name__,
            "registered_name": object_registration.get_registered_name(base),
        }
    identity.pop("config", None)
    return identity


def _get_config(self):
    base = type(self)._keras_compress_base
    config = {
        "base": _base_identity(base),
        "config": base.get_config(self),
        "swaps": records(self),
    }
    pairs = getattr(self, PAIRS_ATTRIBUTE, None)
    if pairs:
        config["ffn_pairs"] = pairs
    return config


def _from_config(cls, config, custom_objects=None):
    model = keras.saving.deserialize_keras_object(
        {**config["base"], "config": config["config"]}, custom_objects=custom_objects
    )
    replay(model, config["swaps"])
    mark(model, config["swaps"])
    if config.get("ffn_pairs"):
        object.__setattr__(model, PAIRS_ATTRIBUTE, [list(p) for p in config["ffn_pairs"]])
    return model


def _swapped_subclass(base):
    if base not in _subclasses:
        subclass = type(
            base.__name__,
            (base,),
            {
                "__module__": base.__module__,
                "__qualname__": base.__qualname__,
                "_keras_compress_base": base,
                "get_config": _get_config,
                "from_config": classmethod(_from_config),
            },
        )
        object_registration.GLOBAL_CUSTOM_NAMES[subclass] = REGISTERED_NAME
        _subclasses[base] = subclass
    return _subclasses[base]


@keras.saving.register_keras_serializable(package="keras_compress", name="SwappedModel")
class SwappedModel:
    """Loads any model saved after `swap_layers` (see the module docstring)."""

    from_config = classmethod(_from_config)

    def get_config(self):  # never instantiated; Keras requires the method
        raise NotImplementedError
