"""Pruning: schedules, importance scores, and the masks they produce."""

from keras_compress.pruning.schedules import (
    ConstantSparsity,
    IterativePruning,
    PolynomialDecay,
    PruningSchedule,
)

__all__ = ["ConstantSparsity", "IterativePruning", "PolynomialDecay", "PruningSchedule"]
