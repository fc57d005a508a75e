"""Old home of the fake-quant helpers; they live in `keras_compress.ops.fake_quant` now."""

from keras_compress.ops.fake_quant import (  # noqa: F401  (re-export)
    GRANULARITIES,
    fake_quant_activations,
    fake_quant_weights,
)

__all__ = ["GRANULARITIES", "fake_quant_activations", "fake_quant_weights"]
