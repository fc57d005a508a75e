"""Model surgery: swapping layers in built models, stripping and shrinking them, slicing weights."""

from keras_compress.surgery.strip import strip
from keras_compress.surgery.swap import in_scope, scope_predicate, swap_layers

__all__ = ["in_scope", "scope_predicate", "strip", "swap_layers"]
