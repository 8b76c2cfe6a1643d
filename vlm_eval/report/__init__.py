"""Reports: markdown tables of one or more runs."""

from vlm_eval.report._markdown import escape_cell, render_markdown
from vlm_eval.report._runs import Run, load_runs

__all__ = ["Run", "escape_cell", "load_runs", "render_markdown"]
