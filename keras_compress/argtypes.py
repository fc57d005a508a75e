"""The command line's argument types: each checks one option's value before anything loads.

Each `NAME(option, ...)` returns a `check(value)` for argparse's `type=`: it returns the
parsed value or raises `argparse.ArgumentTypeError` with a message that says what is allowed
(argparse adds the option's name). Nothing here imports TensorFlow.

>>> positive_int("--threads")("4")
4
>>> int_list("--lengths", minimum=3)("16,32")
(16, 32)
"""

import argparse
import pathlib


def input_file(suffixes, name):
    suffixes = (suffixes,) if isinstance(suffixes, str) else tuple(suffixes)

    def check(value):
        path = pathlib.Path(value)
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{value} is a directory, not a file")
        if not path.exists():
            raise argparse.ArgumentTypeError(f"{value}: no such file")
        if path.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(
                f"{value} is not a {' / '.join(suffixes)} file"
            )
        return path

    check.__name__ = name  # argparse names the type in some messages
    return check


def output_file(suffix, name):
    def check(value):
        path = pathlib.Path(value)
        if path.suffix.lower() != suffix:
            raise argparse.ArgumentTypeError(f"{value} must end in {suffix}")
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{value} is a directory")
        return path

    check.__name__ = name
    return check


def int_list(name, minimum):
    def check(value):
        parts = [part.strip() for part in value.split(",")]
        numbers = []
        for part in parts:
            try:
                number = int(part)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"{value!r}: {part!r} is not an integer (expected e.g. 16,32,64)"
                ) from None
            if number < minimum:
                why = " (room for [CLS], a token and [SEP])" if name == "--lengths" else ""
                raise argparse.ArgumentTypeError(
                    f"{value!r}: every entry must be >= {minimum}{why}; got {number}"
                )
            numbers.append(number)
        if len(set(numbers)) != len(numbers):
            raise argparse.ArgumentTypeError(f"{value!r} has duplicates")
        return tuple(numbers)

    check.__name__ = name
    return check


def positive_int(name, minimum=1):
    def check(value):
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}; got {number}")
        return number

    check.__name__ = name
    return check


def tolerance(name, upper, none=True):
    """A number >= 0 (and <= `upper`), or 'none' (None) when `none`."""
    alternative = " or 'none'" if none else ""

    def check(value):
        if none and value.lower() == "none":
            return None
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number{alternative}") from None
        if not number >= 0 or (upper is not None and number > upper):
            bound = f"in [0, {upper:g}]" if upper is not None else ">= 0"
            raise argparse.ArgumentTypeError(f"must be {bound}{alternative}; got {value}")
        return number

    check.__name__ = name
    return check


def existing_path(name, file_suffix=None):
    """A file or folder that exists; a file must end in `file_suffix` when one is given."""

    def check(value):
        path = pathlib.Path(value)
        if not path.exists():
            raise argparse.ArgumentTypeError(f"{value}: no such file or folder")
        if file_suffix and path.is_file() and path.suffix.lower() != file_suffix:
            raise argparse.ArgumentTypeError(f"{value} is neither a {file_suffix} file nor a folder")
        return path

    check.__name__ = name
    return check
