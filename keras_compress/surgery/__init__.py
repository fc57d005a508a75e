"""Model surgery: swapping layers in built models, stripping and shrinking them, slicing weights,
trimming the vocabulary."""

from keras_compress.surgery.strip import strip
from keras_compress.surgery.swap import in_scope, scope_predicate, swap_layers
from keras_compress.surgery.vocabulary import trim_vocabulary

__all__ = ["in_scope", "scope_predicate", "strip", "swap_layers", "trim_vocabulary"]
