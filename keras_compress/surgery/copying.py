"""Copying a model for `strip`: through Keras's config, or object by object.

`copy.deepcopy` of a Keras model saves it to memory and loads it back
(`KerasSaveable.__reduce__`), which needs a config that rebuilds the model:
it fails for subclassed models that are not registered, or whose
`get_config` cannot rebuild their layers. `copy_model` then copies the
Python object graph itself: every layer, variable and container becomes a
new object with fresh variables holding the same values, nothing shared
with the original. Compile state (optimizer, compiled functions) is not
copied: the copy is for inference and export.
"""

import contextlib
import copy
import warnings

import keras
import tensorflow as tf
from keras.src.saving.keras_saveable import KerasSaveable  # private; stable since Keras 3.0
from keras.src.utils import tracking  # private; stable since Keras 3.0

_NOT_COPIED = ("optimizer", "train_function", "test_function", "predict_function",
               "_compile_config", "_compile_loss", "_compile_metrics", "_loss_tracker",
               "_jit_compile", "_distribute_reduction_method")
_SHARED = ("_distribute_strategy",)  # the model's distribution strategy: one per program
_TF_FUNCTION = type(tf.function(lambda: 0))


def copy_model(model):
    """A deep copy of `model`; the original is not modified.

    Example:

    >>> import keras, numpy as np
    >>> class Unregistered(keras.Model):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.dense = keras.layers.Dense(2)
    ...     def call(self, x):
    ...         return self.dense(x)
    >>> model = Unregistered()
    >>> _ = model(np.ones((1, 3), "float32"))
    >>> twin = copy_model(model)
    >>> twin.dense is model.dense, twin.dense.kernel is model.dense.kernel
    (False, False)
    """
    with warnings.catch_warnings():
        # The round trip warns about compile and optimizer state the copy does not need.
        warnings.filterwarnings("ignore", message=".*compile.*")
        warnings.filterwarnings("ignore", message=".*optimizer.*")
        warnings.filterwarnings("ignore", message=".*could not be deserialized.*")
        try:
            return copy.deepcopy(model)
        except Exception:  # a config that cannot rebuild the model: copy the objects
            return object_copy(model)


def object_copy(model):
    """Copies `model`'s Python object graph with fresh variables (no config round trip)."""
    memo = {}
    for strategy in {id(s): s for s in (tf.distribute.get_strategy(),
                                        vars(model).get("_distribute_strategy"))}.values():
        if strategy is not None:  # one per program: shared, never copied
            memo[id(strategy)] = strategy
            memo[id(strategy.extended)] = strategy.extended
    with _structural_deepcopy():
        return copy.deepcopy(model, memo)


@contextlib.contextmanager
def _structural_deepcopy():
    """Makes `copy.deepcopy` copy Keras objects attribute by attribute, without tracking."""
    patches = {
        KerasSaveable: _copy_attributes,
        tracking.TrackedList: _copy_container(list, list.extend),
        tracking.TrackedDict: _copy_container(dict, lambda new, items: dict.update(new, items)),
        tracking.TrackedSet: _copy_container(set, set.update),
        _TF_FUNCTION: _not_copied,  # traced functions: rebuilt on the copy's first call
    }
    previous = {cls: cls.__dict__.get("__deepcopy__") for cls in patches}
    for cls, method in patches.items():
        cls.__deepcopy__ = method
    try:
        yield
    finally:
        for cls, method in previous.items():
            if method is None:
                del cls.__deepcopy__
            else:
                cls.__deepcopy__ = method


def _not_copied(self, memo):
    return None


def _copy_container(builtin, fill):
    def deepcopy(self, memo):
        new = builtin.__new__(type(self))
        memo[id(self)] = new
        new.__dict__.update(copy.deepcopy(vars(self), memo))
        if builtin is dict:
            fill(new, {copy.deepcopy(k, memo): copy.deepcopy(v, memo) for k, v in self.items()})
        else:
            fill(new, [copy.deepcopy(item, memo) for item in builtin.__iter__(self)])
        return new

    return deepcopy


def _copy_attributes(self, memo):
    new = object.__new__(type(self))
    memo[id(self)] = new
    is_model = isinstance(self, keras.Model)
    for name, value in vars(self).items():
        if is_model and name in _NOT_COPIED and value is not None:
            new.__dict__[name] = None  # compile state: not copied
        elif name in _SHARED:
            new.__dict__[name] = value
        else:
            new.__dict__[name] = copy.deepcopy(value, memo)
    if is_model and vars(self).get("compiled"):
        new.__dict__["compiled"] = False
    return new
