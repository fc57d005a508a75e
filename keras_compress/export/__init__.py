"""Turning a compressed model into a deployable one."""

from keras_compress.export.report import ExportReport as ExportReport
from keras_compress.export.report import ParityError as ParityError
from keras_compress.export.runner import Prediction as Prediction
from keras_compress.export.runner import TFLiteClassifier as TFLiteClassifier
from keras_compress.surgery.strip import strip
from keras_compress.export.tflite import to_tflite as to_tflite

__all__ = ["ExportReport", "ParityError", "Prediction", "TFLiteClassifier", "strip", "to_tflite"]
