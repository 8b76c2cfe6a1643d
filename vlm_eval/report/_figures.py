"""The figures of an HTML report, from the runs' results (matplotlib is imported only here)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from vlm_eval.report._document import Figure
from vlm_eval.report._plots import (
    CheckpointScore,
    CostPoint,
    breakdown_bars,
    score_against_cost,
    scores_across_checkpoints,
)
from vlm_eval.report._report import (
    main_metric,
    main_score,
    seconds_per_sample,
)
from vlm_eval.report._runs import Run
from vlm_eval.report._statistics import Interval

_PLOTTED_BREAKDOWN = "answer_type"


def _natural_key(label: str) -> list[int | str]:
    """Sort key comparing the digits in ``label`` as numbers: step-2000 before step-10000."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", label)]


def report_figures(
    runs: Sequence[Run], tasks: Sequence[str], intervals: dict[tuple[str, str], Interval]
) -> list[Figure]:
    """Per-answer-type bars of each VQA task, the main metric against visual tokens and
    latency, and (for several runs) the main metrics across the runs, as the checkpoints of one
    training run, in the natural order of their labels (step-2000 before step-10000)."""
    figures = []
    for task in tasks:
        entries = [(run, run.results.tasks.get(task)) for run in runs]
        series = {
            run.label: entry.scores.breakdowns[_PLOTTED_BREAKDOWN]
            for run, entry in entries
            if entry is not None and _PLOTTED_BREAKDOWN in entry.scores.breakdowns
        }
        if series:
            groups = list(dict.fromkeys(g for values in series.values() for g in values))
            figures.append(
                breakdown_bars(
                    f"{task}: {main_metric(runs, task)} by answer type",
                    groups,
                    {label: [values.get(g) for g in groups] for label, values in series.items()},
                    ylabel=main_metric(runs, task),
                )
            )
    points = [
        CostPoint(
            run=run.label,
            task=task,
            score=score,
            visual_tokens=entry.cost.visual_tokens_mean,
            seconds_per_sample=seconds_per_sample(entry),
        )
        for run in runs
        for task in tasks
        if (entry := run.results.tasks.get(task)) is not None
        and (score := entry.main_score) is not None
    ]
    if points:
        figures.append(score_against_cost(points))
    if len(runs) > 1:
        checkpoints = {
            f"{task} ({main_metric(runs, task)})": [
                CheckpointScore(
                    run.label,
                    score,
                    *(
                        (interval.low, interval.high)
                        if (interval := intervals.get((run.label, task)))
                        else (None, None)
                    ),
                )
                for run in sorted(runs, key=lambda run: _natural_key(run.label))
                if (score := main_score(run, task)) is not None
            ]
            for task in tasks
        }
        figures.append(scores_across_checkpoints({k: v for k, v in checkpoints.items() if v}))
    return figures
