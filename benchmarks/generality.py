"""Generality matrix: model family x (swap, fit with pruning, strip, to_tflite, parity).

Tiny random configs (tests/families.py; no presets, no network). Each cell is
"ok" or the first line of the error / warning that stopped it. Prints a
Markdown table for docs/reliability.md.

    PYTHONPATH=$PWD python benchmarks/generality.py [--families BERT,ALBERT]
"""

import argparse
import datetime
import tempfile
import warnings
from pathlib import Path

import keras
import numpy as np

import keras_compress
from keras_compress.bench import format_table
from keras_compress.callbacks import HeadPruning, MagnitudePruning, NeuronPruning
from keras_compress.export import ExportConfig, to_tflite
from keras_compress.layers import MaskedDense, MaskedEinsumDense, PrunableAttention
from keras_compress.pruning import ConstantSparsity
from keras_compress.surgery import structure
from tests import families

MAPPING = {
    keras.layers.MultiHeadAttention: PrunableAttention,
    keras.layers.EinsumDense: MaskedEinsumDense,
    keras.layers.Dense: MaskedDense,
}
COLUMNS = ["swap", "fit + MagnitudePruning", "head + neuron pruning", "strip", "to_tflite",
           "TFLite = Keras at own length"]


def _short(error):
    text = f"{type(error).__name__}: {error}".replace("|", "/").replace("\n", " ")
    return text[:240] + ("..." if len(text) > 240 else "")


def run_family(family):
    cells = {}
    model, x = families.build(family)
    y = np.arange(len(keras.tree.flatten(x)[0])) % 3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keras_compress.swap_layers(model, MAPPING)
    left = [str(w.message) for w in caught if "left unswapped" in str(w.message)]
    cells["swap"] = "ok" + (f" (warns: {len(left[0].split(';'))} attention layers left "
                            "unswapped, named)" if left else "")
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    try:
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[MagnitudePruning(ConstantSparsity(0.5, 0, frequency=100))])
        cells["fit + MagnitudePruning"] = "ok"
    except Exception as error:  # noqa: BLE001 - a matrix cell records any failure
        cells["fit + MagnitudePruning"] = _short(error)
    pruned = []
    callbacks = []
    if structure.attention_layers(model):
        callbacks.append(HeadPruning(ConstantSparsity(0.5, 0, frequency=100), data=(x, y),
                                     num_batches=1))
        pruned.append("heads")
    callbacks.append(NeuronPruning(ConstantSparsity(0.5, 0, frequency=100),
                                   importance="weight_norm"))
    try:
        model.fit(x, y, epochs=1, verbose=0, callbacks=callbacks)
        pruned.append(f"neurons in {len(structure.ffn_pairs(model))} FFN pair(s)")
        cells["head + neuron pruning"] = "ok: " + " + ".join(pruned)
        if "heads" not in pruned:
            cells["head + neuron pruning"] += "; no heads (no MultiHeadAttention)"
    except Exception as error:  # noqa: BLE001
        cells["head + neuron pruning"] = _short(error)
    expected = model.predict(x, verbose=0)
    try:
        stripped = keras_compress.strip(model)
        diff = float(np.max(np.abs(stripped.predict(x, verbose=0) - expected)))
        cells["strip"] = f"ok (max diff {diff:.1e})"
    except Exception as error:  # noqa: BLE001
        cells["strip"] = _short(error)
        return cells
    try:
        with tempfile.TemporaryDirectory() as folder:
            report = to_tflite(stripped, Path(folder) / "m.tflite",
                               ExportConfig(sequence_lengths=families.LENGTH),
                               label_names=["a", "b", "c"])
        cells["to_tflite"] = "ok"
        parity = report.parity
        cells["TFLite = Keras at own length"] = (
            f"ok: max diff {parity['max_abs_diff']:.1e}, labels "
            f"{parity['label_agreement']:.0%} on {parity['samples']} rows")
    except Exception as error:  # noqa: BLE001
        cells["to_tflite"] = _short(error)
    return cells


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(families.FAMILIES))
    args = parser.parse_args(argv)
    rows = []
    for family in args.families.split(","):
        try:
            cells = run_family(family)
        except Exception as error:  # noqa: BLE001
            cells = {"swap": _short(error)}
        rows.append((family, cells))
        print(family, cells, flush=True)
    print(f"\nMeasured {datetime.date.today()} with `PYTHONPATH=$PWD python benchmarks/generality.py`"
          " (tiny random configs, CPU).\n")
    print(format_table([{"model": family, **{c: cells.get(c, "not reached") for c in COLUMNS}}
                        for family, cells in rows]))


if __name__ == "__main__":
    main()
