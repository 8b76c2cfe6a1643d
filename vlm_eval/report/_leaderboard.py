"""Leaderboards: runs ranked across tasks by Bradley-Terry ratings fitted on per-sample
pairwise outcomes (each sample a "battle" that the better-scoring model wins). A task swept
over prompt templates (``--templates``) counts once, as its protocol's default template."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vlm_eval._gc import without_gc_pauses
from vlm_eval.report._document import Block, Heading, Paragraph, table
from vlm_eval.report._report import (
    Bootstrap,
    format_number,
    main_metric,
    main_scores,
    model_name,
    score_or_none,
    task_names,
)
from vlm_eval.report._runs import Run, one_entry_per_task, sample_scores
from vlm_eval.report._statistics import Rating, rate_models

TaskWeight = Literal["tasks", "samples"]


@dataclass(frozen=True, slots=True)
class Leaderboard:
    """Ratings of runs (in the order given) and what they were fitted on.

    Attributes:
        runs: The runs rated, one entry per task (``one_entry_per_task``: a task swept over
            templates as its default template's entry).
        ratings: One per run, on the Elo scale (mean 1000).
        rated_tasks: Task -> number of samples every run that has the task scored.
        unrated_tasks: Task -> why it could not rate the runs; shown, not rated.
        dropped_samples: Task -> samples scored by some runs only, left out.
    """

    runs: tuple[Run, ...]
    ratings: tuple[Rating, ...]
    rated_tasks: dict[str, int]
    unrated_tasks: dict[str, str]
    dropped_samples: dict[str, int]
    task_weight: TaskWeight
    prior: float
    bootstrap: Bootstrap


def _task_matrix(runs: Sequence[Run], task: str) -> tuple[np.ndarray, int] | str:
    """(samples, runs) main-metric scores of the samples every run having ``task`` scored
    (NaN columns for runs without it) and the number of other samples; or why the task cannot
    be rated."""
    found = {i: sample_scores(run, task) for i, run in enumerate(runs) if task in run.results.tasks}
    columns = {i: scores for i, scores in found.items() if scores is not None}
    if len(columns) < len(found):
        return "no per-sample scores of its main metric (a corpus-level metric, or older results)"
    if len(columns) < 2:
        return "only one run has it"
    sets = [set(scores.ids) for scores in columns.values()]
    shared = set.intersection(*sets)
    if not shared:
        return "no sample was scored by every run that has it"
    first = next(iter(columns.values()))
    order = [s for s in first.ids if s in shared]
    matrix = np.full((len(order), len(runs)), np.nan)
    for i, scores in columns.items():
        matrix[:, i] = scores.scores_of(order)
    return matrix, len(set.union(*sets)) - len(shared)


def _check_connected(runs: Sequence[Run], matrices: dict[str, np.ndarray]) -> None:
    """Raise ``ValueError`` unless every run meets every other through rated tasks: ratings of
    runs that never share a sample, directly or through others, cannot be compared."""
    groups = [{i} for i in range(len(runs))]
    for matrix in matrices.values():
        players = {int(i) for i in np.flatnonzero(~np.isnan(matrix[0]))}
        merged = set().union(*(g for g in groups if g & players))
        groups = [g for g in groups if not g & players] + [merged]
    if len(groups) > 1:
        described = "; ".join(", ".join(runs[i].label for i in sorted(g)) for g in groups)
        raise ValueError(
            f"these runs share no rated task across groups ({described}): their ratings could "
            "not be compared; rate each group on its own"
        )


@without_gc_pauses
def rate_runs(
    runs: Sequence[Run],
    *,
    bootstrap: Bootstrap | None = None,
    prior: float = 1.0,
    task_weight: TaskWeight = "tasks",
) -> Leaderboard:
    """Fit Bradley-Terry ratings of ``runs`` on every task with per-sample scores.

    For each task, each sample that all the runs having the task scored is a battle between
    every pair of them, won by the higher score (a tie is half a win each). With
    ``task_weight="tasks"`` every task weighs as much in the fit as the average task, whatever
    its size; with ``"samples"`` every battle counts once, so the largest task dominates.
    Confidence intervals: bootstrap over the samples of each task.

    A task swept over prompt templates (``--templates``: ``vqav2@t0``, ``vqav2@t1``, ...)
    counts as one task, scored by its protocol's default template's entry (``vqav2@t9`` for
    ``idefics2-base``; ``one_entry_per_task``), the template a run that was not swept uses:
    so a sweep weighs as much as any task, and it meets plain runs of the task on the same
    prompt. (Not the mean over templates: no plain run has that score.) The other templates
    are not rated; a sweep that left the default template out has no score for the task.

    Raises:
        ValueError: With fewer than two runs, no task to rate them on, or runs that never share
            a rated task with the others.
    """
    if len(runs) < 2:
        raise ValueError("a leaderboard needs at least two runs")
    runs = [one_entry_per_task(run) for run in runs]
    bootstrap = bootstrap or Bootstrap()
    matrices: dict[str, np.ndarray] = {}
    dropped: dict[str, int] = {}
    unrated: dict[str, str] = {}
    for task in task_names(runs):
        found = _task_matrix(runs, task)
        if isinstance(found, str):
            unrated[task] = found
        else:
            matrices[task], dropped[task] = found
    if not matrices:
        raise ValueError(
            "no task can rate these runs: "
            + "; ".join(f"{task}: {reason}" for task, reason in unrated.items())
        )
    _check_connected(runs, matrices)
    sizes = [len(m) for m in matrices.values()]
    weights = (
        [float(np.mean(sizes)) / n for n in sizes] if task_weight == "tasks" else [1.0] * len(sizes)
    )
    ratings = rate_models(
        list(matrices.values()),
        task_weights=weights,
        prior=prior,
        resamples=bootstrap.resamples,
        confidence=bootstrap.confidence,
        seed=bootstrap.seed,
    )
    return Leaderboard(
        runs=tuple(runs),
        ratings=tuple(ratings),
        rated_tasks={task: len(m) for task, m in matrices.items()},
        unrated_tasks=unrated,
        dropped_samples={task: n for task, n in dropped.items() if n},
        task_weight=task_weight,
        prior=prior,
        bootstrap=bootstrap,
    )


def leaderboard_blocks(board: Leaderboard, *, title: str = "vlm-eval leaderboard") -> list[Block]:
    """The leaderboard as report blocks, best rating first."""
    tasks = task_names(board.runs)
    scores = main_scores(board.runs, tasks)
    ranks = scores.rank(method="min", ascending=False)  # 1 = best; equal scores share a rank
    order = sorted(range(len(board.runs)), key=lambda i: -board.ratings[i].rating)
    header = [
        "rank",
        "run",
        "model",
        "rating",
        f"{board.bootstrap.confidence:.0%} CI",
        "mean task rank",
        *(f"{task} ({main_metric(board.runs, task)})" for task in tasks),
    ]
    rows = []
    for i in order:
        run, rating = board.runs[i], board.ratings[i]
        task_ranks = ranks.iloc[i].dropna()
        rows.append(
            [
                rating.rank,
                run.label,
                model_name(run),
                f"{rating.rating:.1f}",
                f"[{rating.interval.low:.1f}, {rating.interval.high:.1f}]",
                format_number(float(task_ranks.mean()), 1) if len(task_ranks) else "-",
                *(format_number(score_or_none(score)) for score in scores.iloc[i]),
            ]
        )
    rated = ", ".join(f"{task} ({n} samples)" for task, n in board.rated_tasks.items())
    weighting = (
        "each task weighs as much as the average task"
        if board.task_weight == "tasks"
        else "each sample counts once"
    )
    method = (
        "Rating: Bradley-Terry model on the Elo scale (mean 1000), fitted on per-sample "
        "pairwise outcomes: on every sample, the run with the higher score wins, equal scores "
        f"are a tie (half a win each); {weighting}; prior: {board.prior:g} virtual tie per "
        f"pair. Rated on {rated}. Interval: {board.bootstrap.describe()}, within each task. "
        "Rank: 1 + the number of runs whose interval lies wholly above."
    )
    blocks: list[Block] = [
        Heading(title, 1),
        table(header, rows, numeric_from=3),
        Paragraph((method,)),
    ]
    notes = [f"{task}: not rated, {reason}" for task, reason in board.unrated_tasks.items()]
    notes += [
        f"{task}: {n} samples not scored by every run, left out"
        for task, n in board.dropped_samples.items()
    ]
    if notes:
        blocks += [Heading("Notes"), table(["note"], [[n] for n in notes])]
    return blocks
