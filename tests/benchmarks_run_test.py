"""benchmarks/run.py's summary: Pareto front, tables and where the section goes (no runs)."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_run():
    spec = importlib.util.spec_from_file_location("benchmarks_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(method, f1, speedup):
    return {"method": method, "macro_f1": f1, "accuracy": f1, "size_mb": None,
            "speedup": speedup, "speedup_median": speedup, "source": "a run"}


def test_pareto_front_keeps_rows_nothing_beats_on_both_axes():
    run = load_run()
    rows = [row("slow good", 0.9, 1.0), row("fast worse", 0.8, 10.0),
            row("dominated", 0.79, 5.0), row("middle", 0.85, 4.0), row("no score", None, 99.0)]
    assert [r["method"] for r in run.pareto_front(rows)] == ["slow good", "fast worse", "middle"]


def test_summary_goes_after_the_introduction_and_replaces_itself(tmp_path):
    run = load_run()
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nIntro.\n\n## Pruning\n\nold\n")
    rows = {"sara": {"a run": [row("Keras fp32", 0.8, 1.0), row("TFLite", 0.8, 3.0)]}}
    run.write_section(doc, run.summary_markdown(rows, {}))
    run.write_section(doc, run.summary_markdown(rows, {}))
    text = doc.read_text()
    assert text.count("## Summary") == 1
    assert text.index("Intro.") < text.index("## Summary") < text.index("## Pruning")
    assert "| TFLite (P) |    0.800 |    0.800 |         | 3.0x / 3.0x              |" in text


def test_plots_draw_one_panel_per_run(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = load_run()
    rows = {"sara": {"run A": [row("Keras fp32", 0.8, 1.0), row("TFLite", 0.8, 3.0)],
                     "run B, reference: teacher": [row("teacher", 0.8, 1.0),
                                                   row("student", 0.79, 2.0)]}}
    drawn = []
    original = plt.subplots

    def spy(*args, **kwargs):
        figure, panels = original(*args, **kwargs)
        drawn.append(panels)
        return figure, panels

    plt.subplots = spy
    try:
        written = run.plots(rows, tmp_path / "img", tmp_path / "benchmarks.md")
    finally:
        plt.subplots = original
    assert written == {"sara": "img/pareto_sara.png"}
    assert (tmp_path / "img" / "pareto_sara.png").read_bytes()[:4] == b"\x89PNG"
    panels = drawn[0][:, 0]
    assert len(panels) == 2  # different references are never on one axis
    assert "Keras fp32" in panels[0].get_xlabel() and "teacher" in panels[1].get_xlabel()


def test_report_rows_read_the_main_jobs_report():
    run = load_run()
    report = {"chosen": "3L", "settings": {"date": "2026-11-29", "data": "../shared/data/sara"},
              "candidates": [
                  {"name": "teacher", "tflite_test_macro_f1": 0.82, "tflite_test_accuracy": 0.83,
                   "size_mb": 24.0, "speedup_mean": 9.0, "speedup_median": 11.0},
                  {"name": "3L", "tflite_test_macro_f1": 0.81, "tflite_test_accuracy": 0.82,
                   "size_mb": 18.0, "speedup_mean": 19.0, "speedup_median": 27.0}]}
    rows = run.report_rows(report, "runs/compress_sara/report.json")
    assert [r["method"].endswith("(chosen)") for r in rows] == [False, True]
    assert rows[1]["speedup"] == 19.0 and rows[1]["speedup_median"] == 27.0
    assert "2026-11-29" in rows[0]["source"] and "runs/compress_sara" in rows[0]["source"]
