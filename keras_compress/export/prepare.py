"""Step 2 of `to_tflite`: the plain copy of the model that the converter reads."""

import warnings

from keras_compress.export import checks
from keras_compress.export.embedding import row_scale_embeddings
from keras_compress.surgery.strip import strip


def prepare(model, config):
    """`(plain copy, its parameter count)`: `model` stripped, embeddings row-scaled.

    `model` is not modified. The copy keeps the QAT layers when
    `config.uses_qat_ranges` (their ranges become the int8 ranges), and its
    large embedding tables get per-row scales when `config.row_scaling`.
    The copy is internal: the swaps on it do not warn about `model`'s
    optimizer state (the warning "call model.compile(...) again before fit"
    is about the user's model, which is never swapped here).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"swap_layers: model .* already trained")
        plain = checks.functional_view(strip(model, keep_quantization=config.uses_qat_ranges))
        params = int(plain.count_params())
        if config.row_scaling:
            row_scale_embeddings(plain)  # per-row precision under per-tensor int8
    return plain, params
