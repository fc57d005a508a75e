"""`format_table`: the one table printer of the project (aligned plain text that is Markdown)."""

import math
import numbers


def format_table(rows, columns=None):
    """An aligned Markdown table of `rows` (mappings), one line per row.

    `columns` picks and orders the keys (default: the keys of all rows, in first-seen
    order); a row without a key gets an empty cell. Floats are shown with 4 significant
    digits (no exponent up to 1e15), `None` as an empty cell; format a cell yourself (a
    string) for another precision. A column of numbers (or of numbers formatted as
    strings, such as `"1,024"`, `"12.5%"`, `"3.1x"`) is right-aligned.

    Example:

    >>> print(format_table([{"model": "keras fp32", "ms": 12.3456, "F1": 0.91},
    ...                     {"model": "tflite", "ms": 0.5}]))
    | model      |    ms |   F1 |
    |------------|------:|-----:|
    | keras fp32 | 12.35 | 0.91 |
    | tflite     |   0.5 |      |
    """
    rows = list(rows)
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    else:
        columns = list(columns)
    if not columns:
        raise ValueError("format_table needs at least one column; `rows` and `columns` are empty.")
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    numeric = [
        any(row.get(column) not in (None, "") for row in rows)
        and all(_looks_numeric(row.get(column)) for row in rows)
        for column in columns
    ]
    widths = [max([len(str(column)), 3] + [len(line[i]) for line in cells])
              for i, column in enumerate(columns)]

    def line(values):
        parts = [value.rjust(width) if right else value.ljust(width)
                 for value, width, right in zip(values, widths, numeric)]
        return "| " + " | ".join(parts) + " |"

    rule = "|" + "|".join(("-" * (width + 1) + ":") if right else "-" * (width + 2)
                          for width, right in zip(widths, numeric)) + "|"
    return "\n".join([line([str(column) for column in columns]), rule, *map(line, cells)])


def _looks_numeric(value):
    if value is None or value == "" or _is_number(value):
        return True
    if not isinstance(value, str):
        return False
    text = value.strip().replace(",", "").removesuffix("%").removesuffix("x")
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_number(value):
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float) or (_is_number(value) and not isinstance(value, numbers.Integral)):
        value = float(value)
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value != 0 and abs(value) >= 1e4:
            return f"{value:.0f}" if abs(value) < 1e15 else f"{value:.4g}"
        return f"{value:.4g}"
    return " ".join(str(value).split()).replace("|", "\\|")
