"""Argument checks shared by the whole package: numbers, required objects, regexes.

Imports nothing from `keras_compress`, so any module may use it. Numbers are
checked with `numbers.Integral` / `numbers.Real`, so NumPy scalars
(`np.int64(0)`, `np.float32(0.5)`) pass like Python numbers; `bool` does not.
"""

import numbers
import re


def is_integer(value):
    """Whether `value` is an integer (Python or NumPy), not a bool.

    >>> import numpy as np
    >>> is_integer(3), is_integer(np.int64(3)), is_integer(3.0), is_integer(True)
    (True, True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value):
    """Whether `value` is a real number (Python or NumPy, integer or float), not a bool.

    >>> import numpy as np
    >>> is_number(0.5), is_number(np.float32(0.5)), is_number("0.5"), is_number(False)
    (True, True, False, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_type(argument, value, types, expected, owner):
    """Raises `TypeError` naming `owner`, `argument` and `expected` unless `value` is a `types`.

    >>> check_type("model", None, int, "a keras.Model", "summary")
    Traceback (most recent call last):
    ...
    TypeError: summary: `model` must be a keras.Model; received None.
    """
    if not isinstance(value, types):
        raise TypeError(f"{owner}: `{argument}` must be {expected}; received {_short(value)}.")
    return value


def compile_regex(argument, pattern, owner):
    """`re.compile(pattern)`; a `ValueError` naming `argument` and the regex error otherwise.

    >>> compile_regex("include", "dense[", "swap_layers")
    Traceback (most recent call last):
    ...
    ValueError: swap_layers: `include` is not a valid regular expression ('dense['): unterminated character set at position 5.
    """
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ValueError(
            f"{owner}: `{argument}` is not a valid regular expression ({pattern!r}): {error}."
        ) from None


def _short(value):
    if value is None:
        return "None"
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"
