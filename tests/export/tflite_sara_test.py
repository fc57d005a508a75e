"""int8 TFLite export of MiniLM fine-tuned on Sara agrees with Keras (slow: real model)."""

import numpy as np
import pytest

from keras_compress.export import ExportConfig, Parity, TFLiteClassifier, to_tflite
from tests.conftest import MINILM_GROUP

pytestmark = MINILM_GROUP


@pytest.mark.slow
def test_dynamic_int8_export_agrees_with_keras_on_sara_valid(sara_finetuned, tmp_path):
    model = sara_finetuned.load()
    texts, _ = sara_finetuned.encode("valid")
    names = sorted(sara_finetuned.label_ids, key=sara_finetuned.label_ids.get)
    path = tmp_path / "sara.tflite"
    # Buckets up to the preprocessor's length, so Keras and TFLite cut long texts alike.
    report = to_tflite(model, path, ExportConfig("dynamic", sequence_lengths=(8, 16)),
                       parity=Parity(data=texts, atol=None, min_agreement=0.99),
                       label_names=names, verbose=False)
    print(f"\nSara valid, dynamic int8 vs Keras: {report.parity}")
    assert report.parity["samples"] == len(texts)
    assert report.parity["label_agreement"] >= 0.99
    assert report.size_bytes < 0.3 * 4 * report.params  # int8 weights, not float32

    # End to end on raw text: the runner's tokenization and buckets vs Keras's predict.
    keras_ids = model.predict(texts, verbose=0).argmax(-1)
    prediction = TFLiteClassifier(path, model.preprocessor).predict(texts)
    assert np.mean(prediction.label_ids == keras_ids) >= 0.99
    assert prediction.labels[:5] == [names[i] for i in prediction.label_ids[:5]]
