"""Training batches padded to their own length bucket: short messages train at short lengths.

keras-hub's preprocessor pads every message to one `sequence_length`, so a model
fine-tuned on short messages pays for the longest. `length_bucketed(model, texts, y)`
tokenizes once, groups the messages by the smallest of `lengths` that holds them
(`keras_compress.export.buckets`, the exporter's own grouping) and yields batches of
one group each, packed to that group's length, in a new order every epoch; `trainer`
is the model without its preprocessor (the same layers and weights) to fit on them.
"""

import keras
import numpy as np

from keras_compress.export import buckets, tokens


def trainer(model):
    """`model` from its packed inputs to its outputs, sharing every layer and weight
    (training it trains `model`); keras-hub's `fit` would run the preprocessor again."""
    return keras.Model(model.input, model.output, name=f"{model.name}_trainer")


def length_bucketed(model, texts, y, *, batch_size, lengths, seed, max_steps=None):
    """A `tf.data.Dataset` of `(packed inputs, y)` batches, each padded to one bucket.

    Args:
        model: a keras-hub text classifier (its preprocessor's tokenizer packs the
            texts; its `sequence_length` is the longest bucket, longer messages cut).
        texts, y: the messages and their targets (labels, or packed teacher logits).
        batch_size: at most this many messages per batch (a bucket's messages are
            split into batches of near-equal size).
        lengths: the buckets (increasing); those above `sequence_length` are dropped.
        seed: the order: every epoch shuffles each bucket and the batches anew.
        max_steps: at most this many batches per epoch (smoke runs).

    Example:

    >>> import keras_hub
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"]
    >>> pre = keras_hub.models.BertTextClassifierPreprocessor(
    ...     keras_hub.models.BertTokenizer(vocabulary=vocab), sequence_length=16)
    >>> model = type("Model", (), {"preprocessor": pre})()
    >>> data = length_bucketed(model, ["a"] * 4 + ["a " * 9] * 2, [0, 1, 0, 1, 0, 1],
    ...                        batch_size=4, lengths=(8, 16, 32), seed=0)
    >>> sorted(tuple(x["token_ids"].shape) for x, y in data)
    [(2, 16), (4, 8)]
    """
    import tensorflow as tf

    tokenizer = model.preprocessor.tokenizer
    longest = int(model.preprocessor.sequence_length)
    lengths = [n for n in lengths if n < longest] + [longest]
    packed = tokens.pack_texts(tokenizer, list(texts), longest)
    wanted = getattr(model, "input", None)  # DistilBERT, RoBERTa: no segment_ids input
    if isinstance(wanted, dict):
        packed = {name: value for name, value in packed.items() if name in wanted}
    groups = buckets.group_by_bucket(buckets.real_lengths(packed), lengths)
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    count = sum(-(-len(rows) // batch_size) for rows in groups.values())
    count = min(count, max_steps) if max_steps else count

    def batches():
        order = [(length, batch) for length, rows in groups.items()
                 for batch in np.array_split(rng.permutation(rows),
                                             -(-len(rows) // batch_size))]
        for index in rng.permutation(len(order))[:count]:
            length, rows = order[index]
            yield {name: value[rows, :length] for name, value in packed.items()}, y[rows]

    inputs = {name: tf.TensorSpec((None, None), tf.int32) for name in packed}
    target = tf.TensorSpec((None, *y.shape[1:]), tf.as_dtype(y.dtype))
    dataset = tf.data.Dataset.from_generator(batches, output_signature=(inputs, target))
    return dataset.apply(tf.data.experimental.assert_cardinality(count)).prefetch(2)
