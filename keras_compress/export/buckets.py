"""Sequence-length buckets: choosing one, and packing token ids to its length.

A bucket is a static sequence length that the exported model has one
signature for. A message runs in the smallest bucket that holds it, so a
short message does the work of a short sequence.
"""

import numpy as np

SEQUENCE_INPUTS = ("token_ids", "segment_ids", "padding_mask")


def check_sequence_lengths(sequence_lengths, max_length=None):
    """Returns `sequence_lengths` as a sorted tuple of distinct positive ints.

    Raises `ValueError` naming the argument for an empty, non-integer,
    non-positive or too long (`> max_length`) entry.

    Example:

    >>> check_sequence_lengths([32, 16, 64])
    (16, 32, 64)
    """
    if isinstance(sequence_lengths, (int, np.integer)):
        sequence_lengths = (sequence_lengths,)
    try:
        lengths = tuple(sequence_lengths)
    except TypeError:
        raise ValueError(
            "`sequence_lengths` must be an int or a sequence of ints such as "
            f"(16, 32, 64, 128); received {sequence_lengths!r}."
        ) from None
    if not lengths:
        raise ValueError("`sequence_lengths` must name at least one length; received ().")
    for length in lengths:
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 3:
            raise ValueError(
                "`sequence_lengths` entries must be ints >= 3 (room for [CLS], one "
                f"token and [SEP]); received {length!r} in {sequence_lengths!r}."
            )
        if max_length is not None and length > max_length:
            raise ValueError(
                f"`sequence_lengths` entry {length} exceeds the model's maximum "
                f"sequence length {max_length} (its position embedding size)."
            )
    if len(set(lengths)) != len(lengths):
        raise ValueError(f"`sequence_lengths` has duplicates: {sequence_lengths!r}.")
    return tuple(sorted(int(length) for length in lengths))


def choose_bucket(length, buckets):
    """The smallest bucket `>= length`; the largest one if none is long enough.

    `length` counts every position the model sees, special tokens included.
    A message longer than the largest bucket is truncated to it.

    Example:

    >>> choose_bucket(9, (8, 16, 32)), choose_bucket(40, (8, 16, 32))
    (16, 32)
    """
    for bucket in buckets:
        if length <= bucket:
            return bucket
    return buckets[-1]


def pack_tokens(token_lists, length, start_id, end_id, pad_id=0):
    """Packs token-id lists as `[start] tokens [end] pad...` of `length`.

    The same layout as keras-hub's BERT preprocessor for one segment: tokens
    beyond `length - 2` are cut, `segment_ids` are 0 and `padding_mask` is 1
    on real positions. Returns a dict of `(len(token_lists), length)` int32.

    Example:

    >>> pack_tokens([[7, 8]], 6, start_id=1, end_id=2)["token_ids"]
    array([[1, 7, 8, 2, 0, 0]], dtype=int32)
    """
    token_ids = np.full((len(token_lists), length), pad_id, "int32")
    padding_mask = np.zeros((len(token_lists), length), "int32")
    for row, tokens in enumerate(token_lists):
        tokens = list(tokens)[: length - 2]
        packed = [start_id, *tokens, end_id]
        token_ids[row, : len(packed)] = packed
        padding_mask[row, : len(packed)] = 1
    return {
        "token_ids": token_ids,
        "segment_ids": np.zeros_like(token_ids),
        "padding_mask": padding_mask,
    }


def real_lengths(inputs):
    """Number of real (unpadded) positions per row of packed inputs."""
    return np.asarray(inputs["padding_mask"]).astype(bool).sum(axis=-1)


def repack(inputs, length, rows=None):
    """Packed inputs (a dict of `(batch, any length)`) cut or padded to `length`.

    Padding adds zeros (padding_mask 0). `rows` selects rows first.

    Example:

    >>> x = {"token_ids": [[5, 6, 7]], "padding_mask": [[1, 1, 0]]}
    >>> repack(x, 4)["token_ids"]
    array([[5, 6, 7, 0]], dtype=int32)
    """
    packed = {}
    for name, value in inputs.items():
        value = np.asarray(value).astype("int32")
        if rows is not None:
            value = value[rows]
        if value.shape[1] >= length:
            packed[name] = np.ascontiguousarray(value[:, :length])
        else:
            packed[name] = np.pad(value, ((0, 0), (0, length - value.shape[1])))
    return packed


def group_by_bucket(lengths, buckets):
    """`{bucket: row indices}` for rows of the given real lengths."""
    groups = {}
    for row, length in enumerate(lengths):
        groups.setdefault(choose_bucket(int(length), buckets), []).append(row)
    return {bucket: np.asarray(rows) for bucket, rows in sorted(groups.items())}
