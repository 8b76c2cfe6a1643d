"""Markdown reports: tasks as columns, runs as rows, breakdowns, cost and provenance below."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from vlm_eval.report._runs import Run

_LISTED_FAILURES = 20
"""Failed samples listed per run and task; results.json lists them all."""


def escape_cell(value: object) -> str:
    """``value`` as text safe inside a markdown table cell: no ``|``, newline or raw HTML."""
    text = html.escape(str(value), quote=False).replace("|", "\\|")
    return " ".join(text.split())


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], numeric_from: int = 1) -> str:
    align = ["---" if i < numeric_from else "---:" for i in range(len(header))]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(escape_cell(c) for c in line) + " |" for line in lines)


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _task_names(runs: Sequence[Run]) -> list[str]:
    """Every task of ``runs``, in the order the runs asked for them."""
    return list(dict.fromkeys(name for run in runs for name in run.results["config"]["tasks"]))


def _summary(runs: Sequence[Run], tasks: list[str]) -> str:
    header = ["run", "model"]
    for name in tasks:
        metric = next(
            r.results["tasks"][name]["task"]["main_metric"]
            for r in runs
            if name in r.results["tasks"]
        )
        header.append(f"{name} ({metric})")
    rows = []
    for run in runs:
        row: list[object] = [run.label, run.results["model"].get("pretrained", "?")]
        for name in tasks:
            entry = run.results["tasks"].get(name)
            main = entry["scores"]["metrics"].get(entry["task"]["main_metric"]) if entry else None
            row.append(_number(main))
        rows.append(row)
    return _table(header, rows, numeric_from=2)


def _breakdowns(runs: Sequence[Run], tasks: list[str]) -> list[str]:
    sections = []
    for name in tasks:
        entries = [
            (run, run.results["tasks"][name]) for run in runs if name in run.results["tasks"]
        ]
        metrics = list(dict.fromkeys(m for _, e in entries for m in e["scores"]["metrics"]))
        if len(metrics) > 1:
            rows = [
                [run.label, *(_number(e["scores"]["metrics"].get(m)) for m in metrics)]
                for run, e in entries
            ]
            sections.append(f"### {name}: all metrics\n\n{_table(['run', *metrics], rows)}")
        kinds = list(dict.fromkeys(k for _, e in entries for k in e["scores"]["breakdowns"]))
        for kind in kinds:
            groups = list(
                dict.fromkeys(
                    g for _, e in entries for g in e["scores"]["breakdowns"].get(kind, {})
                )
            )
            main = entries[0][1]["task"]["main_metric"]
            rows = []
            for run, e in entries:
                values = e["scores"]["breakdowns"].get(kind, {})
                rows.append([run.label, *(_number(values.get(g)) for g in groups)])
            if len(groups) > 8:  # many groups (question types) read better transposed
                header = [kind, *(run.label for run, _ in entries)]
                rows = [[g, *(row[i + 1] for row in rows)] for i, g in enumerate(groups)]
                sections.append(f"### {name}: {main} by {kind}\n\n{_table(header, rows)}")
            else:
                sections.append(f"### {name}: {main} by {kind}\n\n{_table(['run', *groups], rows)}")
    return sections


def _cost(runs: Sequence[Run], tasks: list[str]) -> str:
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
            entry = run.results["tasks"].get(name)
            if entry:
                cost, timing = entry["cost"], entry["timing"]
                rows.append(
                    [
                        run.label,
                        name,
                        entry["data"]["samples"],
                        entry["data"].get("failed", 0),  # older results: none recorded
                        _number(cost["visual_tokens_mean"], 1),
                        _number(cost["prompt_tokens_mean"], 1),
                        _number(cost["generated_tokens_mean"], 1),
                        _number(timing["samples_per_second"]),
                    ]
                )
    return _table(header, rows, numeric_from=2)


def _failures(runs: Sequence[Run], tasks: list[str]) -> list[str]:
    sections = []
    for run in runs:
        for name in tasks:
            entry = run.results["tasks"].get(name) or {}
            failures = entry.get("failures", [])
            if not failures:
                continue
            listed = failures[:_LISTED_FAILURES]
            rows = [[failure["sample_id"], failure["error"]] for failure in listed]
            section = (
                f"### {escape_cell(run.label)}: {escape_cell(name)}, {len(failures)} of "
                f"{entry['data']['samples']} samples failed\n\n"
                + _table(["sample", "error"], rows, numeric_from=2)
            )
            if len(failures) > len(listed):
                section += f"\n\nThe first {len(listed)} are listed; `results.json` has all."
            sections.append(section)
    return sections


def _data_source(data: dict[str, Any]) -> str:
    """Where a task's samples came from: ``split `validation` of hub `lmms-lab/VQAv2```."""
    e = escape_cell
    if "source" not in data:  # older results: official files only
        return f"split `{e(data['split'])}` of `{e(data['dir'])}`"
    split = "all" if data["split"] is None else f"split `{e(data['split'])}`"
    revision = f" at revision `{e(data['revision'])}`" if data["revision"] else ""
    return f"{split} of {e(data['source'])} `{e(data['location'])}`{revision}"


def _provenance(run: Run) -> str:
    results: dict[str, Any] = run.results
    model, config, prov = results["model"], results["config"], results["provenance"]
    e = escape_cell
    hardware = prov["hardware"]
    devices = ", ".join(hardware.get("cuda_devices", [])) or "no GPU"
    versions = ", ".join(f"{k} {v}" for k, v in prov["versions"].items() if v)
    lines = [
        f"### {e(run.label)}",
        "",
        f"- **model**: `{e(model.get('pretrained'))}` (adapter `{e(config['model'])}`), "
        f"{e(model.get('architecture'))}, {model.get('parameters', 0):,} parameters, "
        f"{e(model.get('dtype'))} on {e(model.get('device'))}, "
        f"weights sha256 `{e(model.get('weights_sha256'))}`"
        + (f", family `{e(model['family'])}`" if model.get("family") else "")
        + "".join(
            f", {e(key)} `{e(value)}`" for key, value in model.get("processor_options", {}).items()
        ),
        f"- **settings**: batch size {config['batch_size']}, {config['num_fewshot']}-shot, "
        f"seed {config['seed']}, limit {config['limit']}",
    ]
    for name in config["tasks"]:
        entry = results["tasks"][name]
        data = entry["data"]
        scoring = "".join(
            f", {e(key)} `{e(value)}`" for key, value in entry["task"].get("scoring", {}).items()
        )
        lines.append(
            f"- **{e(name)}** v{e(entry['task']['version'])}: {data['samples']} samples, "
            f"{_data_source(data)}{scoring}"
        )
        notes = entry["scores"]["notes"].items()
        lines.extend(f"  - note: {e(key)}: {e(value)}" for key, value in notes)
    lines += [
        f"- **software**: {e(versions)}; vlm-eval revision `{e(prov['git_revision'])}`",
        f"- **hardware**: {e(hardware.get('platform'))}, {hardware.get('cpu_count')} CPUs, "
        f"{e(devices)}",
        f"- **run**: {e(results['created_at'])}, {results['wall_seconds']:.1f} s wall time, "
        f"folder `{e(run.path)}`",
    ]
    return "\n".join(lines)


def render_markdown(
    runs: Sequence[Run], *, title: str = "vlm-eval report", note: str | None = None
) -> str:
    """The report of ``runs``: main metric per task, breakdowns, cost, failures, provenance."""
    tasks = _task_names(runs)
    parts = [f"# {escape_cell(title)}"]
    if note:
        parts.append(escape_cell(note))
    parts.append(_summary(runs, tasks))
    breakdowns = _breakdowns(runs, tasks)
    if breakdowns:
        parts += ["## Breakdowns", *breakdowns]
    parts += ["## Cost", _cost(runs, tasks)]
    failures = _failures(runs, tasks)
    if failures:
        parts += ["## Failures", *failures]
    parts += ["## Runs", *(_provenance(run) for run in runs)]
    return "\n\n".join(parts) + "\n"
