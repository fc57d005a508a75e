"""Griffe extension for the docs site: doctest blocks in docstrings become code blocks.

The docstrings write their examples as bare doctest (`Example:`, a blank line, then
`>>>` lines), which `pytest --doctest-modules` runs. Markdown would read `>>>` as nested
block quotes and `[0.5]` in an expected output as a link; this wraps every block of
`>>>` / `...` lines and their output (up to a blank line) in a fenced `pycon` block.
Doctests indented inside a docstring section are left to griffe's own parsing.
"""

import griffe

_FENCE = "```"


def fence_doctests(text):
    """Returns `text` with every top-level doctest block fenced as `pycon`."""
    lines = text.splitlines()
    result, in_fence, in_doctest = [], False, False
    for line in lines:
        if line.lstrip().startswith(_FENCE):
            in_fence = not in_fence
        elif not in_fence and not in_doctest and line.startswith(">>>"):
            result.append(_FENCE + "pycon")
            in_doctest = True
        elif in_doctest and not line.strip():
            result.append(_FENCE)
            in_doctest = False
        result.append(line)
    if in_doctest:
        result.append(_FENCE)
    return "\n".join(result)


class FenceDoctests(griffe.Extension):
    """Fences the doctest blocks of every docstring griffe loads."""

    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
