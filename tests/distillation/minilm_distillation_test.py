"""A 3-layer student distilled from MiniLM fine-tuned on Sara (see docs/distillation.md)."""

import time

import keras
import pytest

from keras_compress.distillation import (
    DistillationLoss,
    HardLabelAccuracy,
    cache_teacher_logits,
    make_student,
    pack_targets,
)
from keras_compress.evaluation import evaluate
from keras_compress.recipes import batches

# Measured 2026-11-25 on the 2-core CI machine (docs/distillation.md): the 3-layer student
# scored 0.636 test macro-F1 after one epoch on cached logits, the 6-layer teacher 0.528 (it
# is not converged, so the extra epoch helps). The bound leaves room for run-to-run noise on
# 952 test messages over 67 intents.
MAX_MACRO_F1_DROP = 0.05


@pytest.mark.slow
def test_minilm_three_layer_student_from_cached_logits(sara_finetuned):
    begin = time.perf_counter()
    teacher = sara_finetuned.load()
    texts, labels = sara_finetuned.encode("train")
    test_texts, test_labels = sara_finetuned.encode("test")

    start = time.perf_counter()
    logits = cache_teacher_logits(teacher, texts, batch_size=64)
    cached_s = time.perf_counter() - start

    start = time.perf_counter()
    student = make_student(teacher, num_layers=3)  # teacher layers 1, 3, 5
    assert student._keras_compress_student["layer_map"] == [1, 3, 5]
    initial = evaluate(student, test_texts, test_labels)
    fitting = batches.trainer(student)  # fed batches padded to their length bucket
    fitting.compile(
        optimizer=keras.optimizers.AdamW(sara_finetuned.recipe["learning_rate"]),
        loss=DistillationLoss(temperature=2.0, alpha=0.5),
        metrics=[HardLabelAccuracy()],
    )
    train = batches.length_bucketed(student, texts, pack_targets(labels, logits), batch_size=32,
                                    seed=1, lengths=sara_finetuned.recipe["buckets"])
    fitting.fit(train, epochs=1, verbose=0)
    distil_s = time.perf_counter() - start
    distilled = evaluate(student, test_texts, test_labels)

    baseline = sara_finetuned.baseline["test"]
    print(
        f"\nSara test: teacher (6 layers) {baseline}, student (3 layers) at init {initial}, "
        f"after 1 epoch on cached logits {distilled}; caching {cached_s:.1f} s, "
        f"student build + evaluation + epoch {distil_s:.1f} s, "
        f"whole test {time.perf_counter() - begin:.1f} s"
    )
    assert distilled["macro_f1"] >= baseline["macro_f1"] - MAX_MACRO_F1_DROP
    assert distilled["macro_f1"] > initial["macro_f1"]
