"""Recipes: whole compression jobs in one call (the main job of `keras-compress compress`)."""

from keras_compress.recipes.config import DEFAULT_CANDIDATES, Candidate, CompressConfig
from keras_compress.recipes.report import CompressReport
from keras_compress.recipes.text_classifier import compress_text_classifier

__all__ = ["DEFAULT_CANDIDATES", "Candidate", "CompressConfig", "CompressReport",
           "compress_text_classifier"]
