"""Per-message latency at batch 1, interleaved across variants (shared by the benchmarks).

Used by `benchmarks/pruning.py` (Keras and TFLite variants) and `benchmarks/distillation.py`
(TFLite variants). Every message is packed to the smallest bucket holding it; every variant
runs message i, in a fresh random order, before any variant runs message i + 1, so load from
other jobs on a shared machine falls on all variants alike (blocks of one variant at a time
drifted by 30% between blocks). A message's time is its median over rounds, a variant's
latency the mean over messages.
"""

import time

import numpy as np


def pack_messages(tokenizer, texts, bucket_lengths):
    """`(packed, share)`: one packed batch-1 dict per text, each at the smallest bucket that
    holds it (longer ones cut to the largest), and the share of messages per bucket."""
    from keras_compress.export import buckets, tokens

    start, end, pad = tokens.special_ids(tokenizer)
    packed = []
    for token_list in tokens.tokenize(tokenizer, list(texts)):
        length = buckets.choose_bucket(min(len(token_list) + 2, bucket_lengths[-1]), bucket_lengths)
        packed.append(buckets.pack_tokens([token_list], length, start, end, pad))
    share = {str(b): float(np.mean([p["token_ids"].shape[1] == b for p in packed]))
             for b in bucket_lengths}
    return packed, share


def time_interleaved(variants, packed, gold, rounds=3, warmup=10, log=print, seed=0):
    """Times `variants` (name -> function of one packed message returning its logits).

    Each variant first runs `warmup` untimed messages (every bucket at least once: traces
    shapes, warms interpreters). Returns `{name: {mean_ms, median_ms, p90_ms, macro_f1,
    accuracy}}`, the scores from the argmax of the timed runs against `gold`.
    """
    from keras_compress import metrics

    lengths = sorted({p["token_ids"].shape[1] for p in packed})
    warm = [next(p for p in packed if p["token_ids"].shape[1] == b) for b in lengths]
    for fn in variants.values():
        for p in (warm * warmup)[: max(warmup, len(warm))]:
            fn(p)
    names = list(variants)
    rng = np.random.default_rng(seed)
    times = {name: np.zeros((rounds, len(packed))) for name in names}
    predicted = {name: [0] * len(packed) for name in names}
    log(f"timing {len(names)} variants x {len(packed)} messages x {rounds} rounds, "
        f"interleaved per message")
    for round_index in range(rounds):
        for i, p in enumerate(packed):
            for index in rng.permutation(len(names)):
                name = names[index]
                begin = time.perf_counter()
                outputs = variants[name](p)
                times[name][round_index, i] = time.perf_counter() - begin
                predicted[name][i] = int(np.argmax(outputs))
        log(f"timing round {round_index + 1}/{rounds} done")
    latency = {}
    for name in names:
        per_message = 1e3 * np.median(times[name], axis=0)
        latency[name] = {"mean_ms": float(per_message.mean()),
                         "median_ms": float(np.median(per_message)),
                         "p90_ms": float(np.percentile(per_message, 90)),
                         "macro_f1": metrics.macro_f1(gold, predicted[name]),
                         "accuracy": metrics.accuracy(gold, predicted[name])}
    return latency
