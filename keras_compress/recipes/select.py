"""The accuracy budget: the first candidate, cheapest first, within `max_drop` points."""


def within_budget(teacher_f1, candidate_f1, max_drop):
    """Whether `candidate_f1` is at most `max_drop` points (1 point = 0.01) below `teacher_f1`.

    >>> within_budget(0.815, 0.806, 1.0), within_budget(0.815, 0.804, 1.0)
    (True, False)
    """
    return (teacher_f1 - candidate_f1) * 100 <= max_drop + 1e-9


def choose(candidates, evaluate, teacher_f1, max_drop, *, try_all=False):
    """Tries `candidates` in order; returns `(chosen, results)`.

    `evaluate(candidate)` returns a dict with `"valid_macro_f1"`; the search
    stops at the first candidate within `max_drop` of `teacher_f1` (with
    `try_all`, every candidate is tried and the first within budget is still
    the one chosen: the whole trade-off, for a report). The last
    candidate (the teacher fallback) is chosen when nothing else holds, even
    if evaluation scores it below the budget. A candidate over budget is never
    chosen otherwise.

    >>> scores = {"2L": 0.70, "3L": 0.81, "teacher": 0.82}
    >>> chosen, tried = choose(["2L", "3L", "teacher"],
    ...                        lambda c: {"valid_macro_f1": scores[c]}, 0.82, 1.0)
    >>> chosen, [r["candidate"] for r in tried], [r["within_budget"] for r in tried]
    ('3L', ['2L', '3L'], [False, True])
    """
    if not candidates:
        raise ValueError("choose: `candidates` is empty.")
    results = []
    for index, candidate in enumerate(candidates):
        result = dict(evaluate(candidate))
        result["candidate"] = candidate
        last = index == len(candidates) - 1
        result["within_budget"] = within_budget(teacher_f1, result["valid_macro_f1"], max_drop)
        results.append(result)
        if (result["within_budget"] and not try_all) or last:
            break
    chosen = next((r for r in results if r["within_budget"]), results[-1])["candidate"]
    return chosen, results
