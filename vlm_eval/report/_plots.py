"""Plots of a report as ``Figure`` blocks (PNG bytes), drawn with matplotlib's object API.

No pyplot: figures are ``matplotlib.figure.Figure`` objects rendered by Agg, so no GUI backend
and no global figure state. The PNG bytes depend only on the input (fixed size and dpi, no
software tag), and every label is plain text: ``$`` is escaped so mathtext never triggers.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import cycle

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import FuncFormatter

from vlm_eval.report._document import Figure, visible

DPI = 100
_RC = {"text.usetex": False, "axes.formatter.use_mathtext": False, "font.size": 9.0}
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">")
_MAX_LABEL = 28


@dataclass(frozen=True, slots=True)
class CostPoint:
    """One task of one run, placed by its cost."""

    run: str
    task: str
    score: float
    visual_tokens: float | None
    seconds_per_sample: float | None


@dataclass(frozen=True, slots=True)
class CheckpointScore:
    """The main metric of one task in one run, with its 95% CI if known."""

    run: str
    score: float
    low: float | None = None
    high: float | None = None


def _plain(text: str, limit: int | None = _MAX_LABEL) -> str:
    """``text`` on one line, shortened to ``limit`` characters, safe from mathtext, hidden
    characters shown as escapes."""
    text = " ".join(visible(str(text)).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return text.replace("$", r"\$")


def _colours(n: int) -> list[tuple[float, float, float, float]]:
    cmap = mpl.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _inches(inches: float, low: float, high: float) -> float:
    """``inches`` within [low, high], rounded to a quarter inch: exact in binary, so that the
    size times the dpi is a whole number of pixels."""
    return round(min(max(inches, low), high) * 4) / 4


def _png(fig: MplFigure, caption: str) -> Figure:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return Figure(caption=caption, png=buffer.getvalue())


def _x_labels(ax: Axes, labels: Sequence[str]) -> None:
    texts = [_plain(label) for label in labels]
    crowded = max(map(len, texts), default=0) * len(texts) > 60
    ax.set_xticks(
        range(len(texts)),
        texts,
        rotation=30 if crowded else 0,
        ha="right" if crowded else "center",
        rotation_mode="anchor",
    )


def breakdown_bars(
    title: str, groups: Sequence[str], series: Mapping[str, Sequence[float | None]], *, ylabel: str
) -> Figure:
    """Grouped bars: one group per breakdown value (e.g. answer types 'yes/no', 'number',
    'other'), one bar per run (series key = run label), None = missing bar (marked "n/a").
    The caption is ``title``."""
    if not groups or not series:
        raise ValueError("breakdown_bars needs at least one group and one series")
    for label, values in series.items():
        if len(values) != len(groups):
            raise ValueError(f"series {label!r} has {len(values)} values for {len(groups)} groups")
    n = len(series)
    width = 0.8 / n
    size = (_inches(2 + 0.3 * len(groups) * (n + 1), 8, 20), 4.5)
    with mpl.rc_context(_RC):
        fig = MplFigure(figsize=size, dpi=DPI, layout="constrained")
        ax = fig.add_subplot()
        small = len(groups) * n <= 24
        for i, ((label, values), colour) in enumerate(
            zip(series.items(), _colours(n), strict=True)
        ):
            xs = [g + (i - (n - 1) / 2) * width for g in range(len(groups))]
            heights = [math.nan if v is None else v for v in values]
            bars = ax.bar(xs, heights, width * 0.92, label=_plain(label), color=colour)
            if small:
                ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
            for x, v in zip(xs, values, strict=True):
                if v is None:
                    ax.text(
                        x,
                        0,
                        "n/a",
                        rotation=90,
                        ha="center",
                        va="bottom",
                        fontsize=7,
                        color="#666666",
                    )
        _x_labels(ax, groups)
        ax.set_ylabel(_plain(ylabel, None))
        ax.set_axisbelow(True)
        ax.grid(axis="y", color="#dddddd")
        ax.margins(y=0.12)
        ax.legend(title="run", fontsize=8, title_fontsize=8, loc="best")
        return _png(fig, title)


def _cost_panel(
    ax: Axes,
    points: Sequence[tuple[float, CostPoint]],
    style: dict[str, dict],
    xlabel: str,
    ylabel: str,
) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(color="#e5e5e5")
    ax.set_axisbelow(True)
    if not points:
        ax.text(
            0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="#666666"
        )
        ax.set_xticks([])
        ax.set_yticks([])
        return
    for task, kwargs in style.items():
        mine = [(x, p) for x, p in points if p.task == task]
        if mine:
            ax.scatter([x for x, _ in mine], [p.score for _, p in mine], s=36, zorder=3, **kwargs)
    for x, p in points:
        ax.annotate(
            _plain(p.run),
            (x, p.score),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=7,
            color="#333333",
        )
    xs = [x for x, _ in points]
    if min(xs) > 0 and max(xs) > 10 * min(xs):
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.margins(x=0.15, y=0.12)


def score_against_cost(points: Sequence[CostPoint], *, metric_label: str = "main metric") -> Figure:
    """Two panels side by side: score against visual tokens per sample and against seconds per
    sample (log x where the values span more than 10x); one marker and colour per task, each
    point annotated with its run label. Points lacking an x value are left out of that panel."""
    if not points:
        raise ValueError("score_against_cost needs at least one point")
    tasks = list(dict.fromkeys(p.task for p in points))
    style = {
        task: {"marker": marker, "color": colour, "label": _plain(task)}
        for task, marker, colour in zip(tasks, cycle(_MARKERS), _colours(len(tasks)), strict=False)
    }
    ylabel = _plain(metric_label, None)
    with mpl.rc_context(_RC):
        fig = MplFigure(figsize=(11.0, 4.75), dpi=DPI, layout="constrained")
        left, right = fig.subplots(1, 2)
        tokens = [(p.visual_tokens, p) for p in points if _finite(p.visual_tokens)]
        latency = [(p.seconds_per_sample, p) for p in points if _finite(p.seconds_per_sample)]
        _cost_panel(left, tokens, style, "visual tokens per sample", ylabel)
        _cost_panel(right, latency, style, "seconds per sample", ylabel)
        handles, labels = (left if tokens else right).get_legend_handles_labels()
        if handles:
            fig.legend(
                handles,
                labels,
                loc="outside lower center",
                ncols=min(len(handles), 5),
                fontsize=8,
                title="task",
                title_fontsize=8,
            )
        caption = f"{metric_label} against visual tokens and seconds per sample"
        return _png(fig, caption[0].upper() + caption[1:])


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def scores_across_checkpoints(series: Mapping[str, Sequence[CheckpointScore]]) -> Figure:
    """The main metric of each task (series key, e.g. 'vqav2 (accuracy)') across the runs of one
    training run, in the order given: one small panel per task, so that each has its own scale,
    with 95% CI error bars where known. Tasks without scores are left out."""
    series = {task: scores for task, scores in series.items() if scores}
    if not series:
        raise ValueError("scores_across_checkpoints needs at least one task with scores")
    runs = list(dict.fromkeys(s.run for scores in series.values() for s in scores))
    position = {run: i for i, run in enumerate(runs)}
    ncols = min(len(series), 3)
    nrows = math.ceil(len(series) / ncols)
    panel = (_inches(1 + 0.45 * len(runs), 3.75, 7), 3.0)
    with mpl.rc_context(_RC):
        fig = MplFigure(figsize=(panel[0] * ncols, panel[1] * nrows), dpi=DPI, layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True).ravel()
        for ax, (task, scores), colour in zip(
            axes, series.items(), _colours(len(series)), strict=False
        ):
            xs = [position[s.run] for s in scores]
            ax.plot(xs, [s.score for s in scores], marker="o", color=colour, zorder=3)
            known = [s for s in scores if s.low is not None or s.high is not None]
            if known:
                ax.errorbar(
                    [position[s.run] for s in known],
                    [s.score for s in known],
                    yerr=[
                        [max(0.0, s.score - (s.score if s.low is None else s.low)) for s in known],
                        [
                            max(0.0, (s.score if s.high is None else s.high) - s.score)
                            for s in known
                        ],
                    ],
                    fmt="none",
                    ecolor=colour,
                    elinewidth=1,
                    capsize=3,
                    zorder=2,
                )
            ax.set_title(_plain(task, 40), fontsize=9)
            ax.grid(color="#e5e5e5")
            ax.set_axisbelow(True)
            ax.margins(x=0.1, y=0.15)
        for ax in axes[len(series) :]:
            ax.set_visible(False)
        for ax in axes[:ncols]:
            ax.set_xlim(-0.5, len(runs) - 0.5)
        for ax in axes[max(0, len(series) - ncols) : len(series)]:
            _x_labels(ax, runs)
            ax.tick_params(labelbottom=True)
        caption = "Main metric of each task across the runs"
        if any(s.low is not None or s.high is not None for v in series.values() for s in v):
            caption += " (bars: 95% confidence interval)"
        return _png(fig, caption)
