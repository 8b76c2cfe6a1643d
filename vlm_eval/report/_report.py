"""Run reports: tasks as columns, runs as rows (main metric with its bootstrap confidence
interval), then breakdowns, cost, failures and the provenance of each run; in markdown, or in a
self-contained HTML page with plots."""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlm_eval._gc import without_gc_pauses
from vlm_eval.report._document import (
    Block,
    Code,
    Fact,
    FactList,
    Heading,
    Inline,
    Paragraph,
    table,
    to_markdown,
)
from vlm_eval.report._runs import Run, one_entry_per_task, sample_scores
from vlm_eval.report._statistics import Interval, bootstrap_mean
from vlm_eval.results import TaskDataInfo, TaskResult, metrics_table

if TYPE_CHECKING:
    import pandas as pd

_LISTED_FAILURES = 20
"""Failed samples listed per run and task; results.json lists them all."""
_MAX_GROUPS_AS_COLUMNS = 8
"""Breakdowns with more groups (question types) are shown transposed, and not plotted."""


@dataclass(frozen=True, slots=True)
class Bootstrap:
    """How confidence intervals are drawn: percentile bootstrap over the scored samples."""

    resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0

    def describe(self) -> str:
        return (
            f"{self.confidence:.0%} confidence interval: percentile bootstrap over the scored "
            f"samples ({self.resamples} resamples, seed {self.seed})"
        )


def format_number(value: float | None, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals (never ``-0.00``); ``-`` when missing."""
    if value is None:
        return "-"
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def format_signed(value: float | None) -> str:
    """``value`` with two decimals and its sign (``+1.25``, ``-0.50``); ``-`` when missing."""
    text = format_number(value)
    return text if value is None or text.startswith("-") else f"+{text}"


def format_p(value: float | None) -> str:
    """A p-value: three decimals, two significant digits below 0.001; ``-`` when missing."""
    if value is None:
        return "-"
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def text_or_dash(value: object) -> str:
    """``value`` as text; "—" when it is missing (``None``)."""
    return "—" if value is None else str(value)


def model_name(run: Run) -> str:
    """What ``run`` evaluated: the checkpoint, or a served model's name; "-" if unrecorded;
    ``(blind)`` after it for a model given blank images (``blind=true``)."""
    return run.results.model_label


def format_interval(interval: Interval | None) -> str:
    """``[low, high]`` with two decimals; empty when there is none."""
    if interval is None:
        return ""
    return f"[{format_number(interval.low)}, {format_number(interval.high)}]"


def task_names(runs: Sequence[Run]) -> list[str]:
    """Every task entry of ``runs``, in the order the runs asked for them: a task swept over
    prompt templates (``--templates``) once per template (``vqav2@t4``, see ``task_entries``)."""
    return list(
        dict.fromkeys(
            entry
            for run in runs
            for name in run.results.config["tasks"]
            for entry in run.results.entries(name)
        )
    )


def main_metric(runs: Sequence[Run], task: str) -> str:
    """The main metric of ``task`` (from the first run that has it)."""
    return next(r.results.tasks[task].task.main_metric for r in runs if task in r.results.tasks)


def main_score(run: Run, task: str) -> float | None:
    """The main metric of ``task`` in ``run``; ``None`` if the run lacks the task or a score."""
    entry = run.results.tasks.get(task)
    return None if entry is None else entry.main_score


def _metrics(runs: Sequence[Run]) -> pd.DataFrame:
    """The metrics of ``runs``: a row per run x task entry x metric
    (``vlm_eval.results.metrics_table``), once per run label."""
    metrics = metrics_table((run.label, run.results) for run in runs)
    return metrics.drop_duplicates(["run", "entry", "metric"])


def score_or_none(value: float) -> float | None:
    """A score of a pivoted table; ``None`` where it is missing (NaN)."""
    return None if math.isnan(value) else float(value)


def main_scores(runs: Sequence[Run], tasks: Sequence[str]) -> pd.DataFrame:
    """Run label (rows, in the order of ``runs``) x task entry (columns, those of ``tasks``)
    -> the main metric; NaN where a run lacks the task or its score."""
    metrics = _metrics(runs)
    main = metrics[metrics["main"]].pivot(index="run", columns="entry", values="value")
    return main.reindex(index=[run.label for run in runs], columns=list(tasks))


@without_gc_pauses
def confidence_intervals(
    runs: Sequence[Run], tasks: Sequence[str], bootstrap: Bootstrap
) -> dict[tuple[str, str], Interval]:
    """(run label, task) -> interval of the main metric, where it is a mean of sample scores."""
    intervals = {}
    for run in runs:
        for task in tasks:
            if task not in run.results.tasks:
                continue
            scores = sample_scores(run, task)
            if scores is not None and scores.ids:
                intervals[run.label, task] = bootstrap_mean(
                    scores.values,
                    resamples=bootstrap.resamples,
                    confidence=bootstrap.confidence,
                    seed=bootstrap.seed,
                )
    return intervals


def _summary(
    runs: Sequence[Run], tasks: list[str], intervals: dict[tuple[str, str], Interval]
) -> list[Block]:
    header = ["run", "model", *(f"{name} ({main_metric(runs, name)})" for name in tasks)]
    scores = main_scores(runs, tasks)
    rows = []
    for run, values in zip(runs, scores.itertuples(index=False), strict=True):
        row: list[object] = [run.label, model_name(run)]
        for name, value in zip(tasks, values, strict=True):
            interval = format_interval(intervals.get((run.label, name)))
            row.append(f"{format_number(score_or_none(value))} {interval}".strip())
        rows.append(row)
    return [table(header, rows, numeric_from=2)]


def _breakdowns(runs: Sequence[Run], tasks: list[str]) -> list[Block]:
    blocks: list[Block] = []
    metrics = _metrics(runs)
    for name in tasks:
        entries = [(run, run.results.tasks[name]) for run in runs if name in run.results.tasks]
        scores = metrics[metrics["entry"] == name]
        columns = list(scores["metric"].unique())  # in the order the runs have them
        if len(columns) > 1:
            pivot = scores.pivot(index="run", columns="metric", values="value").reindex(
                index=[run.label for run, _ in entries], columns=columns
            )
            rows = [
                [label, *(format_number(score_or_none(v)) for v in values)]
                for label, values in zip(pivot.index, pivot.itertuples(index=False), strict=True)
            ]
            blocks += [Heading(f"{name}: all metrics", 3), table(["run", *columns], rows)]
        main = main_metric(runs, name)
        for kind, groups in _breakdown_groups(entries).items():
            rows = [
                [run.label, *(format_number(values.get(g)) for g in groups)]
                for run, e in entries
                for values in [e.scores.breakdowns.get(kind, {})]
            ]
            blocks.append(Heading(f"{name}: {main} by {kind}", 3))
            if len(groups) > _MAX_GROUPS_AS_COLUMNS:  # many groups read better transposed
                header = [kind, *(run.label for run, _ in entries)]
                blocks.append(
                    table(
                        header, [[g, *(row[i + 1] for row in rows)] for i, g in enumerate(groups)]
                    )
                )
            else:
                blocks.append(table(["run", *groups], rows))
    return blocks


def _breakdown_groups(entries: Sequence[tuple[Run, TaskResult]]) -> dict[str, list[str]]:
    """Breakdown kind -> every group any of the runs has, in first-seen order."""
    kinds: dict[str, dict[str, None]] = {}
    for _, entry in entries:
        for kind, values in entry.scores.breakdowns.items():
            kinds.setdefault(kind, {}).update(dict.fromkeys(values))
    return {kind: list(groups) for kind, groups in kinds.items()}


def seconds_per_sample(entry: TaskResult) -> float | None:
    """Generation latency of a task entry: 1 / samples per second."""
    rate = entry.timing.samples_per_second
    return 1.0 / rate if rate else None


def _cost(runs: Sequence[Run], tasks: list[str]) -> list[Block]:
    header = [
        "run",
        "task",
        "samples",
        "failed",
        "visual tokens/sample",
        "prompt tokens/sample",
        "generated tokens/sample",
        "samples/s",
    ]
    rows = []
    for run in runs:
        for name in tasks:
            entry = run.results.tasks.get(name)
            if entry is not None:
                cost = entry.cost
                rows.append(
                    [
                        run.label,
                        name,
                        entry.data.samples,
                        entry.data.failed,
                        format_number(cost.visual_tokens_mean, 1),
                        format_number(cost.prompt_tokens_mean, 1),
                        format_number(cost.generated_tokens_mean, 1),
                        format_number(entry.timing.samples_per_second),
                    ]
                )
    return [table(header, rows, numeric_from=2)]


def _failures(runs: Sequence[Run], tasks: list[str]) -> list[Block]:
    blocks: list[Block] = []
    for run in runs:
        for name in tasks:
            entry = run.results.tasks.get(name)
            if entry is None or not entry.failures:
                continue
            failures = entry.failures
            listed = failures[:_LISTED_FAILURES]
            blocks += [
                Heading(
                    f"{run.label}: {name}, {len(failures)} of {entry.data.samples} samples failed",
                    3,
                ),
                table(
                    ["sample", "error"],
                    [[failure.sample_id, failure.error] for failure in listed],
                    numeric_from=2,
                ),
            ]
            if len(failures) > len(listed):
                blocks.append(
                    Paragraph(
                        (f"The first {len(listed)} are listed; ", Code("results.json"), " has all.")
                    )
                )
    return blocks


def _data_source(data: TaskDataInfo) -> list[Inline]:
    """Where a task's samples came from: split `validation` of hub `lmms-lab/VQAv2`."""
    parts: list[Inline] = ["all"] if data.split is None else ["split ", Code(data.split)]
    source, location = data.source, data.location
    origin: list[Inline] = [
        *([f" {source}"] if source else []),
        *([" ", Code(location)] if location else []),
    ]
    if origin:
        parts += [" of", *origin]
    if data.revision:
        parts += [" at revision ", Code(data.revision)]
    return parts


def _options(options: dict[str, Any]) -> list[Inline]:
    """``, key `value`, key `value```."""
    return [
        part for key, value in options.items() for part in (f", {key} ", Code(text_or_dash(value)))
    ]


def _recorded(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` without those a run did not record (older runs)."""
    return {key: value for key, value in options.items() if value is not None}


def _selection(fewshot: Any) -> str:
    """How a run chose its demonstrations, where not at random: `` (RICES, MODEL)``."""
    if not isinstance(fewshot, dict) or fewshot.get("selection") != "rices":
        return ""
    model = fewshot.get("model")
    return f" (RICES, {model.get('pretrained')})" if isinstance(model, dict) else " (RICES)"


def _command(argv: Sequence[str]) -> str:
    """The command line of a run, as a shell would take it (the program by its name only)."""
    return shlex.join([Path(argv[0]).name, *argv[1:]]) if argv else "unknown"


def _model_fact(model: dict[str, Any], adapter: str) -> Fact:
    """What was evaluated, with what the adapter recorded: a checkpoint's architecture, size,
    dtype, device and weights; a served model's server. Fields it lacks are left out."""
    name = model.get("pretrained") or model.get("model")
    parts: list[Inline] = [
        Code(name) if name else "unnamed model",
        " (adapter ",
        Code(adapter),
        ")",
    ]
    if model.get("base_url"):
        parts += [", served by ", Code(model["base_url"])]
        served = model.get("server_model")
        if served and served != name:
            parts += [" as ", Code(served)]
    if model.get("architecture"):
        parts.append(f", {model['architecture']}")
    if model.get("parameters") is not None:
        parts.append(f", {model['parameters']:,} parameters")
    placed = " on ".join(str(model[k]) for k in ("dtype", "device") if model.get(k) is not None)
    if placed:  # "bfloat16 on cuda"
        parts.append(f", {placed}")
    for key, label in (
        ("weights_sha256", "weights sha256"),
        ("commit", "commit"),
        ("family", "family"),
    ):
        if model.get(key):
            parts += [f", {label} ", Code(model[key])]
    parts += _options(model.get("processor_options", {}))
    if model.get("image_format"):
        parts.append(f", images sent as {model['image_format']}")
    return Fact("model", tuple(parts))


def _provenance(run: Run) -> list[Block]:
    results = run.results
    config, prov = results.config, results.provenance
    hardware = prov["hardware"]
    limit = "no limit" if config["limit"] is None else f"limit {config['limit']}"
    facts = [
        _model_fact(results.model, config["model"]),
        Fact("command", (Code(_command(prov["command"])),)),
        Fact(
            "settings",
            (
                f"batch size {config['batch_size']}, {config['num_fewshot']}-shot"
                f"{_selection(results.fewshot)}, "
                f"seed {config['seed']}, {limit}",
            ),
        ),
    ]
    for name in task_names([run]):
        entry = results.tasks[name]
        facts.append(
            Fact(
                name,
                (
                    f"version {entry.task.version}, {entry.data.samples} samples, ",
                    *_data_source(entry.data),
                    *_options(_recorded({"protocol": entry.task.protocol_name})),
                    *_options(entry.task.scoring),
                ),
                tuple(f"note: {key}: {value}" for key, value in entry.scores.notes.items()),
            )
        )
    versions = ", ".join(f"{k} {v}" for k, v in prov["versions"].items() if v)
    software: list[Inline] = [versions] if versions else []
    if prov["git_revision"]:
        software += [f"{'; ' if versions else ''}vlm-eval revision ", Code(prov["git_revision"])]
    machine = [
        *([hardware["platform"]] if hardware.get("platform") else []),
        *([f"{hardware['cpu_count']} CPUs"] if hardware.get("cpu_count") is not None else []),
        ", ".join(hardware.get("cuda_devices", [])) or "no GPU",
    ]
    facts += [
        Fact("software", tuple(software) or ("—",)),
        Fact("hardware", (", ".join(machine),)),
        Fact(
            "run",
            (
                f"{results.created_at}, {results.wall_seconds:.1f} s wall time, folder ",
                Code(str(run.path)),
            ),
        ),
    ]
    return [Heading(run.label, 3), FactList(tuple(facts))]


def _plots(
    runs: Sequence[Run], tasks: list[str], intervals: dict[tuple[str, str], Interval]
) -> list[Block]:
    """The report's figures; a line saying how to get them where matplotlib (the ``plots``
    extra) is not installed."""
    try:
        from vlm_eval.report._figures import report_figures
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] != "matplotlib":
            raise
        return [
            Paragraph(
                (
                    "No plots: they need matplotlib, which is not installed (",
                    Code("pip install 'vlm-eval[plots]'"),
                    ").",
                )
            )
        ]
    return report_figures(runs, tasks, intervals)


def build_report(
    runs: Sequence[Run],
    *,
    title: str = "vlm-eval report",
    note: str | None = None,
    bootstrap: Bootstrap | None = None,
    plots: bool = False,
) -> list[Block]:
    """The report of ``runs`` as blocks: main metric per task with its confidence interval,
    breakdowns, prompt sensitivity (template sweeps), (with ``plots``) figures, cost, failures
    and provenance. The main table, breakdowns and figures show one entry per task (a task
    swept over templates as its default template, ``one_entry_per_task``); the prompt
    sensitivity section every template, cost, failures and provenance every entry."""
    # imported here: it reads this module
    from vlm_eval.report._templates import default_template_note, sensitivity_blocks

    bootstrap = bootstrap or Bootstrap()
    plain = [one_entry_per_task(run) for run in runs]
    tasks = task_names(plain)
    intervals = confidence_intervals(plain, tasks, bootstrap)
    blocks: list[Block] = [Heading(title, 1)]
    if note:
        blocks.append(Paragraph((note,)))
    blocks += _summary(plain, tasks, intervals)
    if intervals:
        blocks.append(Paragraph((f"Brackets: {bootstrap.describe()}.",)))
    blocks += default_template_note(runs)
    breakdowns = _breakdowns(plain, tasks)
    if breakdowns:
        blocks += [Heading("Breakdowns"), *breakdowns]
    blocks += sensitivity_blocks(runs, bootstrap)
    if plots:
        blocks += [Heading("Plots"), *_plots(plain, tasks, intervals)]
    entries = task_names(runs)
    blocks += [Heading("Cost"), *_cost(runs, entries)]
    failures = _failures(runs, entries)
    if failures:
        blocks += [Heading("Failures"), *failures]
    blocks.append(Heading("Runs"))
    for run in runs:
        blocks += _provenance(run)
    return blocks


def render_markdown(
    runs: Sequence[Run],
    *,
    title: str = "vlm-eval report",
    note: str | None = None,
    bootstrap: Bootstrap | None = None,
) -> str:
    """The markdown report of ``runs`` (see ``build_report``)."""
    return to_markdown(build_report(runs, title=title, note=note, bootstrap=bootstrap))


def render_html(
    runs: Sequence[Run],
    *,
    title: str = "vlm-eval report",
    note: str | None = None,
    bootstrap: Bootstrap | None = None,
) -> str:
    """The report of ``runs`` as one self-contained HTML page, with plots."""
    from vlm_eval.report._html import to_html

    blocks = build_report(runs, title=title, note=note, bootstrap=bootstrap, plots=True)
    return to_html(blocks, title=title)
