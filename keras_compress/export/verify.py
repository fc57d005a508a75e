"""Step 4 of `to_tflite`: does the converted model answer as the Keras model does?

The TFLite model runs each row in its bucket (the smallest length holding
it). The user's Keras model runs the same rows at its own length (the one
it trained and serves at). Both are compared to the TFLite outputs: the
Keras rows at the bucket length (what conversion changed), and at the
model's own length (what the user will see). When the two Keras runs
disagree, the model's output depends on padding, and buckets cannot be
exported faithfully: `ParityError` says so.
"""

import numpy as np

from keras_compress.export import buckets
from keras_compress.export.report import ParityError
from keras_compress.export.runner import TFLiteClassifier

PADDING_CAUSE = "the model's output depends on padding: it does not use padding_mask"


def verify(model, content, metadata, plan, batch_size=64):
    """Compares Keras and the TFLite `content` on `plan.parity_inputs`; the parity facts.

    Returns `{"samples", "max_abs_diff", "label_agreement", "atol",
    "min_agreement", "reference_length"}` (differences: the worse of the two
    comparisons); raises `ParityError` past the tolerances of `plan.parity`.
    """
    inputs = plan.parity_inputs
    classifier = TFLiteClassifier._from_content(content, metadata)
    lengths = buckets.real_lengths(inputs)
    at_bucket = keras_outputs(model, inputs, buckets.group_by_bucket(lengths, plan.lengths),
                              metadata["num_classes"], batch_size)
    fits = np.flatnonzero(lengths <= plan.own_length)  # longer rows are cut at its length
    at_own = keras_outputs(model, inputs, {plan.own_length: fits}, metadata["num_classes"],
                           batch_size)[fits]
    actual = classifier.outputs(inputs)

    atol, min_agreement = plan.parity.atol, plan.parity.min_agreement
    converted = compare(actual, at_bucket, atol, min_agreement)
    served = compare(actual[fits], at_own, atol, min_agreement)
    padding = compare(at_bucket[fits], at_own, atol, min_agreement)
    result = {
        "samples": int(len(lengths)),
        "max_abs_diff": max(converted["max_abs_diff"], served["max_abs_diff"]),
        "label_agreement": min(converted["label_agreement"], served["label_agreement"]),
        "atol": atol,
        "min_agreement": min_agreement,
        "reference_length": int(plan.own_length),
    }
    problems = converted["problems"] or served["problems"]
    if not np.all(np.isfinite(actual)):
        problems = ["the TFLite outputs are not all finite"] + problems
    if problems and padding["problems"]:
        raise ParityError(
            f"TFLite export does not match the Keras model on {result['samples']} samples: "
            f"{PADDING_CAUSE}. The Keras model itself gives different outputs for the same "
            f"rows padded to their bucket lengths {plan.lengths} and to its own length "
            f"{plan.own_length} ({'; '.join(padding['problems'])}). Nothing was written. "
            f"Mask padded positions in the model (use padding_mask), or export one bucket "
            f"of the model's own length: sequence_lengths=({plan.own_length},)."
        )
    if problems:
        raise ParityError(
            f"TFLite export does not match the Keras model on {result['samples']} samples: "
            + "; ".join(problems)
            + ". Nothing was written. Loosen `atol` / `min_agreement` (None skips a check) "
            "only if this is expected, e.g. for quantized exports on random inputs."
        )
    return result


def keras_outputs(model, inputs, groups, num_classes, batch_size=64):
    """Keras outputs `(rows, classes)` for `{length: row indices}`: each group padded or
    cut to its length; rows in no group stay zero."""
    names = list(model.input) if isinstance(model.input, dict) else list(inputs)
    outputs = np.zeros((len(inputs["token_ids"]), num_classes), "float32")
    for length, rows in groups.items():
        packed = buckets.repack({n: inputs[n] for n in names}, length, rows)
        for begin in range(0, len(rows), batch_size):
            part = {n: v[begin : begin + batch_size] for n, v in packed.items()}
            outputs[rows[begin : begin + batch_size]] = np.asarray(model(part, training=False))
    return outputs


def compare(actual, expected, atol=None, min_agreement=None):
    """`{"max_abs_diff", "label_agreement", "problems"}` of two `(rows, classes)` arrays.

    Example:

    >>> compare(np.array([[0.0, 1.0]]), np.array([[0.0, 0.5]]), atol=0.1)["problems"]
    ['max abs diff 0.5 > atol 0.1']
    """
    count = len(actual)
    max_abs_diff = float(np.max(np.abs(actual - expected))) if count else 0.0
    agreement = float(np.mean(actual.argmax(-1) == expected.argmax(-1))) if count else 1.0
    problems = []
    if atol is not None and not max_abs_diff <= atol:
        problems.append(f"max abs diff {max_abs_diff:.3g} > atol {atol:g}")
    if min_agreement is not None and agreement < min_agreement:
        problems.append(f"label agreement {agreement:.2%} < min_agreement {min_agreement:.2%}")
    return {"max_abs_diff": max_abs_diff, "label_agreement": agreement, "problems": problems}
