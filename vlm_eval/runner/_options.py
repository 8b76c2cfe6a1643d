"""Each task's options for a run: its protocol (``--protocol``, else one the model takes) and a
template sweep's entries (``--templates``)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

from vlm_eval._arguments import ArgumentsError, keyword_parameters
from vlm_eval.models import MODELS, ModelAdapter
from vlm_eval.protocols import get_protocol, protocol_spec
from vlm_eval.protocols._protocol import template_specs
from vlm_eval.runner._config import RunConfig
from vlm_eval.tasks import TASKS, JudgeSpec


def template_sweep(
    config: RunConfig, options: Mapping[str, Mapping[str, str]]
) -> tuple[dict[str, dict[str, dict[str, str]]], dict[str, str]]:
    """Task -> template id -> the task's options under that template: the VQA and caption
    tasks ``config.templates`` sweeps (none without it); and task -> the id of its protocol's
    default template, whose entry stands for the task where one score per task is wanted
    (``default_entry``).

    Each (task, template) pair is a task entry of its own (``template_entry``: ``vqav2@t4``),
    with its own records file, results entry, cache keys (the protocol's template is part of
    the task's description) and bootstrap interval; ``results.json``'s ``templates`` (task ->
    template ids) groups them back for the report's prompt-sensitivity section, and its
    ``default_templates`` names the entry that stands for the task in the report's main table,
    leaderboards and ``compare`` with a run that was not swept.

    Raises:
        ArgumentsError: If a task's protocol holds fewer than two templates to choose from or
            lacks an id.
    """
    if config.templates is None:
        return {}, {}
    asked = None if config.templates == "all" else config.templates
    sweep, defaults = {}, {}
    for name in config.tasks:
        kind = getattr(TASKS.get(name), "kind", None)  # "vqa" or "caption"
        if kind is not None and "protocol" in options[name]:
            try:
                specs = template_specs(options[name]["protocol"], kind, asked)
            except ArgumentsError as error:
                raise ArgumentsError(f"task {name}: {error}") from None
            sweep[name] = {
                template: {**options[name], "protocol": spec} for template, spec in specs.items()
            }
            defaults[name] = get_protocol(options[name]["protocol"]).default_templates[kind]
    if not sweep:
        raise ArgumentsError("--templates: no selected task is asked with prompt templates")
    return sweep, defaults


def task_options(config: RunConfig, adapter: ModelAdapter | None) -> dict[str, dict[str, str]]:
    """``config.task_args`` with the protocol of every task that takes one (VQA and caption
    tasks): its own, else ``config.protocol``, else one that fits the model; and the options
    that protocol fixes for the task, unless given.

    Raises:
        ArgumentsError: If a task would be asked chat prompts that the model cannot take (a base
            checkpoint), before the model loads.
    """
    options = {name: dict(config.task_args.get(name, {})) for name in config.tasks}
    # Tasks whose options include a protocol (VQA and caption tasks; a plugin's own __init__
    # may leave it out, and then keeps its own prompts).
    prompted = [name for name in config.tasks if "protocol" in keyword_parameters(TASKS.get(name))]
    if config.protocol is not None and len(prompted) < len(config.tasks):
        others = ", ".join(name for name in config.tasks if name not in prompted)
        warnings.warn(
            f"--protocol {config.protocol} does not apply to {others}: the task takes no "
            "protocol option and keeps its own prompts",
            stacklevel=2,
        )
    asked = {
        name: options[name].get("protocol", config.protocol or "").partition(":")[0]
        for name in prompted
    }
    takes_chat = True
    if any(protocol in ("", "chat") for protocol in asked.values()):
        kind = MODELS.get(config.model) if adapter is None else type(adapter)
        takes_chat = kind.takes_chat_prompts(config.model_args)
    for name in prompted:
        protocol = asked[name] or ("chat" if takes_chat else "idefics2-base")
        if protocol == "chat" and not takes_chat:
            raise ArgumentsError(
                f"task {name}: protocol chat needs a chat template, and the checkpoint has none "
                "(a base checkpoint): give it a raw-template protocol, --protocol idefics2-base "
                "(vlm-eval list protocols)"
            )
        options[name].setdefault("protocol", protocol_spec(protocol, config.protocol_args))
        fixed = get_protocol(options[name]["protocol"]).options_for(name)
        options[name] = fixed | options[name]
    _judge_options(config, options)
    return options


def _judge_options(config: RunConfig, options: dict[str, dict[str, str]]) -> None:
    """``config.judge`` as the ``judge`` option of every task that takes one (judged answers)
    and was given none; a warning if no selected task takes it."""
    if config.judge is None:
        return
    judged = [name for name in config.tasks if "judge" in keyword_parameters(TASKS.get(name))]
    if not judged:
        warnings.warn(
            f"--judge {config.judge} does not apply to {', '.join(config.tasks)}: no selected "
            "task reads its answers with a judge (MathVista does)",
            stacklevel=3,
        )
    spec = JudgeSpec(config.judge, config.judge_args).spec
    for name in judged:
        options[name].setdefault("judge", spec)
