"""Prompt sensitivity of runs swept over their protocol's prompt templates (``--templates``):
the score per template with its interval, their mean and spread, and each template tested
against the best one over the same samples, with the tests ``compare`` runs between two runs.

Each template is tested against the best (the highest score, the first of equals) rather than
every pair against every other: it answers the question a sweep asks (which templates lose
points against the best prompt) with ``k - 1`` tests instead of ``k (k - 1) / 2``. Their
p-values are Holm-adjusted over those ``k - 1`` tests, so that a sweep of 16 templates does not
find differences by chance. The best template is picked after seeing the scores, which biases
these tests slightly towards finding a difference; the intervals do not depend on the choice.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from vlm_eval.report._document import Block, Heading, Paragraph, table
from vlm_eval.report._report import (
    Bootstrap,
    confidence_intervals,
    format_interval,
    format_number,
    format_p,
    format_signed,
    main_score,
)
from vlm_eval.report._runs import Run, sample_scores
from vlm_eval.report._statistics import Interval, PairedTest, holm_adjusted, paired_test


@dataclass(frozen=True, slots=True)
class TemplateResult:
    """One template of a sweep.

    Attributes:
        template: Its id in the protocol.
        entry: Its task entry in the results (``vqav2@t4``).
        score: Its main metric; ``None`` if nothing was scored.
        interval: The bootstrap interval of ``score`` (a mean of sample scores), if any.
        against_best: This template against the best one, paired over the samples both
            scored (``bootstrap.delta``: this one minus the best); ``None`` for the best itself
            or where the main metric is not a mean of sample scores.
        adjusted_p: ``against_best``'s p-value, Holm-adjusted over the sweep's tests.
    """

    template: str
    entry: str
    score: float | None
    interval: Interval | None
    against_best: PairedTest | None
    adjusted_p: float | None


@dataclass(frozen=True, slots=True)
class TemplateSweep:
    """One task of one run evaluated under each of several templates."""

    run: Run
    task: str
    metric: str
    best: str | None
    templates: tuple[TemplateResult, ...]

    @property
    def scores(self) -> list[float]:
        return [t.score for t in self.templates if t.score is not None]

    @property
    def deviation(self) -> float | None:
        """The standard deviation of the scores across templates (``n - 1`` in the divisor);
        ``None`` with fewer than two scores."""
        return statistics.stdev(self.scores) if len(self.scores) > 1 else None


def template_sweeps(runs: Sequence[Run], bootstrap: Bootstrap) -> list[TemplateSweep]:
    """The template sweeps of ``runs``, run by run in task order."""
    return [
        _sweep(run, task, templates, bootstrap)
        for run in runs
        for task in run.results.config["tasks"]
        if (templates := (run.results.templates or {}).get(task))
    ]


def _sweep(run: Run, task: str, templates: Sequence[str], bootstrap: Bootstrap) -> TemplateSweep:
    entries = dict(zip(templates, run.results.entries(task), strict=True))
    intervals = confidence_intervals([run], list(entries.values()), bootstrap)
    scores = {t: main_score(run, entry) for t, entry in entries.items()}
    scored = {t: score for t, score in scores.items() if score is not None}
    best = max(scored, key=scored.__getitem__) if scored else None  # the first of equals
    tests: dict[str, PairedTest] = {}
    best_samples = None if best is None else sample_scores(run, entries[best])
    for template, entry in entries.items():
        samples = None if template == best else sample_scores(run, entry)
        if best_samples is None or samples is None:
            continue
        shared, best_values, values = best_samples.paired(samples)
        if shared:
            tests[template] = paired_test(
                best_values,
                values,
                scale=samples.scale,
                resamples=bootstrap.resamples,
                confidence=bootstrap.confidence,
                seed=bootstrap.seed,
            )
    adjusted = dict(
        zip(tests, holm_adjusted([test.p_value for test in tests.values()]), strict=True)
    )
    first = run.results.tasks[entries[templates[0]]]
    return TemplateSweep(
        run=run,
        task=task,
        metric=first.task.main_metric,
        best=best,
        templates=tuple(
            TemplateResult(
                template,
                entry,
                scores[template],
                intervals.get((run.label, entry)),
                tests.get(template),
                adjusted.get(template),
            )
            for template, entry in entries.items()
        ),
    )


def _verdict(sweep: TemplateSweep, result: TemplateResult, alpha: float) -> str:
    if result.template == sweep.best:
        return "best"
    if result.adjusted_p is None:
        return "not tested"
    return "worse" if result.adjusted_p < alpha else "no significant difference"


def default_template_note(runs: Sequence[Run]) -> list[Block]:
    """Which template the main table shows of each task swept over templates (its protocol's
    default, ``default_entry``), and which sweeps left it out; empty without a sweep."""
    shown, missing = [], []
    for run in runs:
        defaults = run.results.default_templates or {}
        for task in run.results.templates or {}:
            if run.results.default_entry(task) is not None:
                shown.append(f"{run.label}: {task} template {defaults[task]}")
            else:
                missing.append(f"{run.label}: {task}")
    if not shown and not missing:
        return []
    text = "Tasks swept over prompt templates (--templates) stand here, in the breakdowns and "
    text += "the plots as their protocol's default template"
    text += f" ({'; '.join(shown)}). " if shown else ". "
    if missing:
        text += f"Swept without it, so not shown there: {'; '.join(missing)}. "
    return [Paragraph((text + "Every template's score: Prompt sensitivity.",))]


def sensitivity_blocks(runs: Sequence[Run], bootstrap: Bootstrap) -> list[Block]:
    """The report's prompt-sensitivity section (empty without a template sweep): per run and
    swept task the mean and spread of the scores across templates, then each template's score,
    interval and test against the best one."""
    sweeps = template_sweeps(runs, bootstrap)
    if not sweeps:
        return []
    alpha = 1.0 - bootstrap.confidence

    def worse(sweep: TemplateSweep) -> str:
        verdicts = [_verdict(sweep, t, alpha) for t in sweep.templates]
        return f"{verdicts.count('worse')} of {len(verdicts) - 1}"

    summary = [
        [
            sweep.run.label,
            f"{sweep.task} ({sweep.metric})",
            len(sweep.templates),
            format_number(statistics.fmean(sweep.scores) if sweep.scores else None),
            format_number(min(sweep.scores, default=None)),
            format_number(max(sweep.scores, default=None)),
            format_number(sweep.deviation),
            sweep.best or "-",
            worse(sweep),
        ]
        for sweep in sweeps
    ]
    blocks: list[Block] = [
        Heading("Prompt sensitivity"),
        table(
            ["run", "task", "templates", "mean", "min", "max", "sd", "best", "worse than best"],
            summary,
            numeric_from=2,
        ),
        Paragraph(
            (
                "Each task evaluated once per prompt template of its protocol (--templates), on "
                "the same samples and demonstrations. sd: standard deviation across templates "
                "(n - 1). Each template is tested against the best one over the samples both "
                "scored: exact McNemar test where every score is 0 or 1, else the paired "
                "bootstrap test (as compare); Holm p: adjusted over the task's tests; worse: "
                f"Holm p below {alpha:.2g}. Intervals: {bootstrap.describe()}.",
            )
        ),
    ]
    interval = f"{bootstrap.confidence:.0%} CI"
    for sweep in sweeps:
        rows = [
            [
                t.template,
                _verdict(sweep, t, alpha),
                t.against_best.name if t.against_best else "-",
                format_number(t.score),
                format_interval(t.interval) or "-",
                format_signed(t.against_best.bootstrap.delta) if t.against_best else "-",
                format_p(t.against_best.p_value if t.against_best else None),
                format_p(t.adjusted_p),
            ]
            for t in sweep.templates
        ]
        header = ["template", "verdict", "test", sweep.metric, interval, "Δ vs best", "p", "Holm p"]
        blocks += [
            Heading(f"{sweep.run.label}: {sweep.task} by template", 3),
            table(header, rows, numeric_from=3),
        ]
    return blocks
