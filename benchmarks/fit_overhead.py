"""What compression costs inside `fit`: step time with the pruning callbacks vs plain `fit`.

A MiniLM-shaped BERT (6 layers, hidden 384, 12 heads, FFN 1536; random weights: step time
does not depend on them) at batch 32, length 32, on random token ids. Each setup trains
`--steps` steps after one warm-up epoch; the setups take turns for `--rounds` rounds, and a
setup's step time is its median over all timed steps.

    .venv/bin/python -m benchmarks.fit_overhead --steps 20 --rounds 2
"""

import argparse
import sys
import time

import keras
import numpy as np

from benchmarks.common import log, start
from keras_compress import swap_layers
from keras_compress.bench import format_table, machine_line
from keras_compress.callbacks import HeadPruning, MagnitudePruning, NeuronPruning
from keras_compress.layers import MaskedDense, MaskedEinsumDense, PrunableAttention
from keras_compress.pruning import ConstantSparsity, IterativePruning


class StepTimes(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_train_batch_begin(self, batch, logs=None):
        self._begin = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self._begin)


def build(setup, data):
    import keras_hub

    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=30522, num_layers=6, num_heads=12,
                                             hidden_dim=384, intermediate_dim=1536,
                                             max_sequence_length=64)
    model = keras_hub.models.BertTextClassifier(backbone, 10, preprocessor=None)
    callbacks = []
    if setup == "magnitude 50%":
        swap_layers(model, {keras.layers.Dense: MaskedDense,
                            keras.layers.EinsumDense: MaskedEinsumDense})
        callbacks = [MagnitudePruning(ConstantSparsity(0.5, 0, frequency=10))]
    elif setup == "heads + neurons (gradient scores)":
        swap_layers(model, {keras.layers.MultiHeadAttention: PrunableAttention,
                            keras.layers.Dense: MaskedDense})
        callbacks = [NeuronPruning(IterativePruning(0.1, 0.5, begin_step=0, frequency=10),
                                   data=data, num_batches=2),
                     HeadPruning(IterativePruning(0.1, 0.3, begin_step=0, frequency=10),
                                 data=data, num_batches=2)]
    model.compile(optimizer=keras.optimizers.AdamW(1e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, callbacks


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default="/tmp/bench_fit_overhead")
    args = parser.parse_args(argv)
    start(args.out, "fit_overhead", argv, threads=2)
    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(1000, 30000, (32 * args.steps, 32)).astype("int32"),
         "segment_ids": np.zeros((32 * args.steps, 32), "int32"),
         "padding_mask": np.ones((32 * args.steps, 32), "int32")}
    y = rng.integers(0, 10, 32 * args.steps)
    data = [({k: v[:32] for k, v in x.items()}, y[:32]), ({k: v[32:64] for k, v in x.items()}, y[32:64])]
    setups = ["plain fit", "magnitude 50%", "heads + neurons (gradient scores)"]
    models = {setup: build(setup, data) for setup in setups}
    for model, callbacks in models.values():  # warm-up: trace the step and the callbacks
        model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=callbacks)
    seconds = {setup: [] for setup in setups}
    for round_index in range(args.rounds):
        for setup in setups if round_index % 2 == 0 else setups[::-1]:
            model, callbacks = models[setup]
            timer = StepTimes()
            model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[*callbacks, timer])
            seconds[setup] += timer.seconds
            log(f"round {round_index + 1}: {setup} {1e3 * np.median(timer.seconds):.0f} ms/step")
    plain = np.median(seconds["plain fit"])
    rows = [{"setup": setup, "steps": len(s), "median ms/step": round(1e3 * np.median(s), 1),
             "mean ms/step": round(1e3 * np.mean(s), 1),
             "overhead (median)": f"{100 * (np.median(s) / plain - 1):+.1f}%"}
            for setup, s in seconds.items()]
    print(f"\nMiniLM-shaped BERT, batch 32, length 32; {machine_line()}\n")
    print(format_table(rows))


if __name__ == "__main__":
    main(sys.argv[1:])
