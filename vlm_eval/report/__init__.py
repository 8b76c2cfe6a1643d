"""Reports: score tables of runs (markdown or HTML with plots), comparisons of two runs with
paired significance tests, and leaderboards rating models on per-sample outcomes."""

from vlm_eval.report._document import escape_cell
from vlm_eval.report._report import Bootstrap, build_report, render_html, render_markdown
from vlm_eval.report._runs import Run, SampleScores, load_runs, read_records, sample_scores

__all__ = [
    "Bootstrap",
    "Run",
    "SampleScores",
    "build_report",
    "escape_cell",
    "load_runs",
    "read_records",
    "render_html",
    "render_markdown",
    "sample_scores",
]
