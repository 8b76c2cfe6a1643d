"""Names in a run folder shared by the runner, which writes it, and the reports, which read it
(kept apart from both so that reading a report does not import the models)."""

from typing import Any

RESULTS_FILE = "results.json"


def template_entry(task: str, template: str) -> str:
    """The name of the entry of ``task`` under template ``template`` in a template sweep
    (``vqav2@t4``): its key in ``results.json``'s ``tasks`` and its ``samples_<entry>.jsonl``."""
    return f"{task}@t{template}"


def task_entries(results: dict[str, Any], task: str) -> list[str]:
    """The keys of ``task``'s entries in ``results["tasks"]``: the task's name, or for a task
    swept over templates (``results["templates"]``: task -> template ids) one per template."""
    swept = (results.get("templates") or {}).get(task)
    return [task] if swept is None else [template_entry(task, template) for template in swept]


def default_entry(results: dict[str, Any], task: str) -> str | None:
    """The entry that stands for ``task`` where a run gets one score per task (the report's
    main table, leaderboards, ``compare`` with a run that was not swept): the task's own, or
    for a task swept over templates the entry of its protocol's default template
    (``results["default_templates"]``: task -> template id); ``None`` where the sweep left
    that template out."""
    swept = (results.get("templates") or {}).get(task)
    if swept is None:
        return task
    default = (results.get("default_templates") or {}).get(task)
    return template_entry(task, default) if default in swept else None
