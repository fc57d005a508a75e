"""`strip`: a plain Keras model with the compression baked into its weights."""

import warnings

import keras
import numpy as np

from keras_compress import checks
from keras_compress.layers import PrunableAttention
from keras_compress.layers.base import CompressedLayer
from keras_compress.surgery import copying, persist, shrink, slicing, structure
from keras_compress.surgery.swap import swap_layers


def strip(model, keep_quantization=False):
    """Returns a copy of `model` with only standard Keras layers, pruned structure removed.

    - Weight masks are multiplied into the kernels.
    - Pruned attention heads are cut out of the query, key, value and output
      projections (each layer keeps its own number of heads).
    - Pruned neurons of transformer feed-forward blocks are cut out of the
      intermediate kernel and the matching rows of the output kernel.
    - k-means kernels are materialised; fake quantization is removed (a
      `QuantizedDense` whose quantization is on keeps its int8-grid kernel).

    With `keep_quantization=True`, layers whose fake quantization is switched
    on (`QuantizedDense`, `QuantizedEinsumDense`, `QuantizedEmbedding`) stay
    as they are, so that TensorFlow's TFLite converter reads their learned
    int8 ranges (`to_tflite(..., "int8")` without representative data); the
    copy is then for conversion, not a plain Keras model. Such layers must not
    sit inside attention or feed-forward blocks that lose heads or neurons:
    `strip` the pruned model first, then train it with QAT.

    The copy goes through Keras's config (`copy.deepcopy`); where that
    cannot rebuild the model (a subclassed `keras.Model` that is not
    registered, or whose config does not name its layers), the Python
    objects are copied instead (`surgery.copying.copy_model`), then swapped
    back to plain layers in place.

    The outputs equal the compressed model's (for `QuantizedDense`, up to
    activation fake-quant). `model` is not modified. When nothing was
    physically removed the copy loads without keras_compress; a copy with
    removed heads or neurons needs `import keras_compress` to load, because
    models such as keras-hub's `BertBackbone` rebuild full-size layers from
    their config (the swaps are replayed on load, as for `swap_layers`).

    Example:

    >>> import keras, keras_compress
    >>> from keras_compress.layers import MaskedDense
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> _ = keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense},
    ...                                include_classifier=True)
    >>> type(keras_compress.strip(model).layers[0]).__name__
    'Dense'
    """
    checks.check_type("model", model, keras.Model, "a keras.Model", "strip")
    stripped = copying.copy_model(model)
    shrinking = shrink.neuron_replacements(stripped)
    removes_heads = any(
        not np.all(keras.ops.convert_to_numpy(layer.head_mask))
        for _, layer in structure.attention_layers(stripped)
    )
    kept = _quantized_layers(stripped, shrinking) if keep_quantization else set()

    def policy(layer, path):
        if id(layer) in kept:
            return None
        if id(layer) in shrinking:
            return shrinking[id(layer)]
        if isinstance(layer, PrunableAttention):
            return _without_pruned_heads
        if isinstance(layer, CompressedLayer):
            return _to_plain
        return None

    persist.unmark(stripped)
    with warnings.catch_warnings():
        # The copy is for inference and export: its optimizer state is not used.
        warnings.filterwarnings("ignore", message=r"swap_layers: model .* already trained")
        swap_layers(stripped, policy, include_embeddings=True, include_classifier=True)
    if not (shrinking or removes_heads):
        persist.unmark(stripped)
    structure.forget_pairs(stripped)  # consumed: the shrunk pairs are plain Dense layers now
    return stripped


def _quantized_layers(model, shrinking):
    """ids of the layers with fake quantization on; refuses ones that strip would rebuild."""
    from keras_compress.layers.qat import FakeQuantSwitch
    from keras_compress.surgery import tree

    kept, rebuilt = set(), []
    for path, _, layer in tree.walk(model):
        if not (isinstance(layer, FakeQuantSwitch) and layer.quantization_on):
            continue
        kept.add(id(layer))
        if id(layer) in shrinking:
            rebuilt.append("/".join(path))
    for path, _, layer in tree.walk(model):
        if isinstance(layer, PrunableAttention) or id(layer) in shrinking:
            rebuilt += [
                "/".join(path + inner_path)
                for inner_path, _, inner in tree.walk(layer)
                if inner is not layer and id(inner) in kept
            ]
    if rebuilt:
        listed = ", ".join(sorted(set(rebuilt))[:4])
        raise ValueError(
            f"strip(keep_quantization=True): quantized layers inside pruned attention or "
            f"feed-forward blocks would lose their int8 ranges when those blocks are rebuilt "
            f"({listed}). Strip the pruned model first (`keras_compress.strip`), then swap in "
            f"the Quantized layers and train with QAT, or export with representative_data."
        )
    return kept


def _to_plain(layer):
    return layer.to_plain()


def _without_pruned_heads(layer):
    kept = np.flatnonzero(keras.ops.convert_to_numpy(layer.head_mask))
    if kept.size == 0:
        raise ValueError(
            f"strip: layer '{layer.name}': every head is pruned; a "
            "MultiHeadAttention needs at least one head (prune with min_heads >= 1)."
        )
    return slicing.keep_heads(layer.to_plain(), kept)
