"""Turning a compressed model into a deployable one."""

from keras_compress.export.config import ExportConfig as ExportConfig
from keras_compress.export.config import Parity as Parity
from keras_compress.export.report import ExportReport as ExportReport
from keras_compress.export.report import ParityError as ParityError
from keras_compress.export.runner import Prediction as Prediction
from keras_compress.export.runner import TFLiteClassifier as TFLiteClassifier
from keras_compress.export.tflite import export_classifier as export_classifier
from keras_compress.export.tflite import to_tflite as to_tflite
from keras_compress.surgery.strip import strip

__all__ = ["ExportConfig", "ExportReport", "Parity", "ParityError", "Prediction",
           "TFLiteClassifier", "export_classifier", "strip", "to_tflite"]
