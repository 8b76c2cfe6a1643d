"""A run, stage by stage: read every task's data and build its requests (``_requests``), then for
each task entry plan what to generate (``_plan``), execute it (``_execute``), record it
(``_records``, ``_ranks``), score it (``_score``) and write its results (``_write``); then write
``results.json``."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, closing, contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vlm_eval._gc import long_lived_frozen, paused_gc
from vlm_eval._run_folder import RESULTS_FILE, template_entry
from vlm_eval.models import ModelAdapter, create_model
from vlm_eval.results import RunResults, TaskResult
from vlm_eval.runner._batching import BatchSizer
from vlm_eval.runner._config import RunConfig
from vlm_eval.runner._distributed import broadcast, process_group, rank, world_size
from vlm_eval.runner._execute import Execution
from vlm_eval.runner._fewshot import shot_selector
from vlm_eval.runner._judge import JUDGE_RESULTS, Judges, judge_stage
from vlm_eval.runner._lock import RunFolderBusyError, run_folder_lock
from vlm_eval.runner._options import task_options, template_sweep
from vlm_eval.runner._plan import TaskPlan, plan_task
from vlm_eval.runner._provenance import collect_provenance, redact_secrets
from vlm_eval.runner._ranks import RankedStore, Shard
from vlm_eval.runner._records import JUDGEMENT, Answer, judge, sample_record
from vlm_eval.runner._requests import Request, draw, request_keys, requests, task_data
from vlm_eval.runner._score import score_task
from vlm_eval.runner._store import write_summary
from vlm_eval.runner._uptodate import INPUTS_DIGEST, SAMPLES_DIGEST, finished_results, inputs_digest
from vlm_eval.runner._write import task_result
from vlm_eval.tasks import Task, TaskData, get_task
from vlm_eval.tasks._judged import redact_judge

__all__ = ["RESULTS_FILE", "RunConfig", "run_evaluation"]


@dataclass(frozen=True, slots=True)
class _TaskEntry:
    """A task entry of the run (a task, or one template of a sweep): its name in the run folder
    and results, the task, its data and requests."""

    name: str
    task: Task
    data: TaskData
    requests: list[Request]


def run_evaluation(config: RunConfig, adapter: ModelAdapter | None = None) -> dict[str, Any]:
    """Evaluate ``config.tasks`` and write ``results.json`` in ``config.output_dir``.

    Every task's data is read (and validated) before the model is loaded, and the model before
    anything is written. Predictions are appended to ``samples_<task>.jsonl`` batch by batch
    (durable before the next batch starts), the time of each generate call to
    ``timing_<task>.jsonl``; predictions already there for the same model, task version and
    prompt are reused instead of generated again (see ``_request_keys``). A sample with an
    unreadable image is not generated: it is listed in its task's ``failures``, left out of the
    scores (``data.scored_samples``) and of the JSONL, so that a later run retries it.

    Launched by ``torchrun`` (``WORLD_SIZE`` > 1), each process evaluates a share of the missing
    samples and appends them to part files of its own (``samples_<task>.rank<R>.jsonl``); rank 0
    merges them into the files a single process writes, the same bytes, and writes the results,
    which every rank returns. The run folder must be shared by every node. Reuse is by sample,
    so a run resumes with any number of processes.

    Args:
        config: What to run.
        adapter: A ready adapter; built from ``config.model`` / ``config.model_args`` if omitted.

    Returns:
        The results, as written to ``results.json``.

    Raises:
        WriteError: If a file cannot be written (full disk); it says what is safely on disk.
    """
    with process_group():
        text = broadcast(_evaluate(config, adapter))
    assert text is not None  # rank 0 always has the results
    return json.loads(text)


def _evaluate(config: RunConfig, adapter: ModelAdapter | None) -> str | None:
    """``run_evaluation``'s work; the text of ``results.json`` on rank 0, ``None`` elsewhere."""
    started = time.perf_counter()
    created = datetime.now(UTC).isoformat(timespec="seconds")
    options = task_options(config, adapter)
    sweep, defaults = template_sweep(config, options)
    tasks = [get_task(name, options.get(name)) for name in config.tasks]
    data = {task.name: task_data(task, config) for task in tasks}
    entry_tasks = {
        name: (entry_task, task)
        for task in tasks
        for name, entry_task in _entry_tasks(task, sweep.get(task.name))
    }
    recorded: dict[str, Any] = {"config": _recorded_config(config)}
    if sweep:
        recorded["templates"] = {name: list(ids) for name, ids in sweep.items()}
        recorded["default_templates"] = defaults
    digest = inputs_digest(
        recorded, {name: (task, data[base.name]) for name, (task, base) in entry_tasks.items()}
    )
    with _holding_run_folder(config.output_dir):
        finished = broadcast(_finished(config, digest) if rank() == 0 else None)
        if finished is not None:  # up to date but for the model, which must be loaded to say
            adapter = adapter or create_model(config.model, config.model_args)
            if json.loads(finished)["model"] == json.loads(json.dumps(adapter.describe())):
                _say(f"{config.output_dir}: nothing left to do, {RESULTS_FILE} is up to date")
                return finished if rank() == 0 else None
        selector = shot_selector(
            config.fewshot_selection,
            config.fewshot_args,
            seed=config.seed,
            num_workers=config.num_workers,
        )
        with closing(selector), paused_gc():  # RICES's encoder is released before the model loads
            drawn = {task.name: draw(task, data[task.name], config, selector) for task in tasks}
            entries = [
                _TaskEntry(name, task, data[base.name], requests(task, drawn[base.name], config))
                for name, (task, base) in entry_tasks.items()
            ]
        adapter = _checked_adapter(config, adapter, entries)
        model = adapter.describe()
        judges = Judges(config.batch_size)
        with long_lived_frozen(), closing(judges):
            results = {e.name: _evaluate_task(e, adapter, model, config, judges) for e in entries}
        if rank() != 0:
            return None
        recorded |= {"fewshot": selector.describe(), INPUTS_DIGEST: digest}
        return _write_results(config, model, results, recorded, created, started)


def _finished(config: RunConfig, digest: str | None) -> str | None:
    """The text of the results in the run folder if they are up to date (``finished_results``)
    but perhaps for the model."""
    if finished_results(config.output_dir, digest) is None:
        return None
    return (config.output_dir / RESULTS_FILE).read_text(encoding="utf-8")


def _say(message: str) -> None:
    """Tell the user what the run does, on rank 0 (standard error, as the progress bars)."""
    if rank() == 0:
        print(message, file=sys.stderr)


def _entry_tasks(
    task: Task, templates: Mapping[str, dict[str, str]] | None
) -> list[tuple[str, Task]]:
    """The entries of ``task``: itself, or one per template of a sweep (``template_sweep``)."""
    if templates is None:
        return [(task.name, task)]
    return [
        (template_entry(task.name, template), get_task(task.name, args))
        for template, args in templates.items()
    ]


def _checked_adapter(
    config: RunConfig, adapter: ModelAdapter | None, entries: Sequence[_TaskEntry]
) -> ModelAdapter:
    """``adapter``, or the one ``config`` names, loaded; it must take every prompt of the run,
    which fails the run before any generation otherwise."""
    adapter = adapter or create_model(config.model, config.model_args)
    if config.prepare_in_workers and not adapter.prepares_in_workers:
        raise ValueError(
            f"prepare_in_workers: the {adapter.name} adapter prepares its batches in the main "
            "process only"
        )
    for entry in entries:
        for request in entry.requests:
            adapter.check_prompt(request.prompt)
    return adapter


def _evaluate_task(
    entry: _TaskEntry,
    adapter: ModelAdapter,
    model: dict[str, Any],
    config: RunConfig,
    judges: Judges,
) -> TaskResult | None:
    """Plan, execute, record, judge, score and write one task entry: this rank's share of what
    is missing is generated, and rank 0 returns the entry's results (``None`` on other ranks);
    rank 0 alone asks the judge (a judged task's, ``judges``) about the answers its rules
    cannot read."""
    started = time.perf_counter()
    task = entry.task
    keys = request_keys(task, entry.requests, model)
    store = RankedStore(config.output_dir, entry.name)
    sizer = BatchSizer(config.batch_size)
    plan = plan_task(
        task, entry.requests, keys, store.reusable(keys), sizer.limit, rank(), world_size()
    )
    execution = Execution(
        adapter, task.generation, sizer, config.num_workers, config.prepare_in_workers
    )
    shard, generated = _execute(entry.name, task, plan, execution, store)
    gathered = store.gather(shard, keys)
    if gathered is None:
        return None
    shards, others = gathered
    answers = {**plan.reused, **generated}
    answers.update((key, judge(task, plan.requests[key], g)) for key, g in others.items())
    ordered = [key for key in keys if key in answers]
    judged = judge_stage(
        entry.name,
        task,
        answers,
        {key: request.sample for key, request in plan.requests.items()},
        ordered,
        lambda unread: store.recorded(unread, JUDGEMENT),
        judges,
    )
    scored = score_task(entry.name, task, entry.data, plan.requests, answers, ordered, config)
    rewritten = scored.rescored | (judged.changed if judged else set())
    samples_digest = store.finish(
        (
            key,
            None
            if key in generated and key not in rewritten
            else sample_record(task, plan.requests[key], key, answers[key]),
        )
        for key in ordered
    )
    files = (store.samples_file, store.timing_file)
    wall = time.perf_counter() - started
    result = task_result(
        task, entry.data, keys, answers, scored, shards, files, len(plan.reused), wall
    )
    extra = {**result.extra, SAMPLES_DIGEST: samples_digest}
    if judged is not None and judged.report is not None:
        extra[JUDGE_RESULTS] = judged.report.describe()
    return replace(result, extra=extra)


def _execute(
    name: str, task: Task, plan: TaskPlan, execution: Execution, store: RankedStore
) -> tuple[Shard, dict[str, Answer]]:
    """Generate this rank's batches of ``plan``, appending each call's records to ``store``;
    returns what the rank did and the answers it generated, by request key."""
    started = time.perf_counter()
    generated: dict[str, Answer] = {}
    seconds = 0.0
    with tqdm(
        total=len(plan.requests),
        initial=len(plan.reused),
        desc=name,
        unit="sample",
        disable=rank() != 0,
    ) as bar:
        for call in execution.run(plan.batches):
            records = []
            for request, key, generation in call.answered:
                generated[key] = answer = judge(task, request, generation)
                records.append(sample_record(task, request, key, answer))
            if records:
                store.append(records, call.seconds)
                seconds += call.seconds
            if call.done:
                bar.update(call.done)
                if execution.failures:
                    bar.set_postfix(failed=len(execution.failures))
    wall = time.perf_counter() - started
    return Shard(execution.failures, len(generated), seconds, wall, execution.sizer), generated


def _recorded_config(config: RunConfig) -> dict[str, Any]:
    """``config`` as the results record it (secrets in model arguments redacted)."""
    return {
        **asdict(config),
        "model_args": _redacted(config.model_args),
        "judge_args": _redacted(config.judge_args),
        "task_args": {
            task: {key: redact_judge(v) if key == "judge" else v for key, v in args.items()}
            for task, args in config.task_args.items()
        },
        "data_dir": None if config.data_dir is None else str(config.data_dir),
        "output_dir": str(config.output_dir),
    }


def _redacted(args: Mapping[str, str]) -> dict[str, str]:
    """Adapter arguments with credentials (``api_key``, ...) as ``<redacted>``."""
    return {key: redact_secrets(f"{key}={value}").partition("=")[2] for key, value in args.items()}


def _write_results(
    config: RunConfig,
    model: dict[str, Any],
    results: Mapping[str, TaskResult | None],
    recorded: dict[str, Any],
    created: str,
    started: float,
) -> str:
    """Write ``results.json``; returns its text. ``recorded``: what the results hold besides
    the tasks and model (``config``, ``fewshot``, a sweep's ``templates``, the inputs digest)."""
    run = RunResults(
        created_at=created,
        config=recorded["config"],
        model=model,
        fewshot=recorded["fewshot"],
        templates=recorded.get("templates"),
        default_templates=recorded.get("default_templates"),
        provenance=collect_provenance(),
        tasks={name: result for name, result in results.items() if result is not None},
        wall_seconds=time.perf_counter() - started,
        extra={INPUTS_DIGEST: recorded[INPUTS_DIGEST]} if recorded[INPUTS_DIGEST] else {},
    )
    text = json.dumps(run.to_json(), indent=2, sort_keys=True) + "\n"
    predictions = sum(t.data.samples - t.data.failed for t in run.tasks.values())
    write_summary(config.output_dir / RESULTS_FILE, text, predictions)
    return text


@contextmanager
def _holding_run_folder(folder: Path) -> Iterator[None]:
    """Rank 0 holds the run folder's lock for the duration; every rank fails if it cannot.

    Raises:
        RunFolderBusyError: If another run holds the folder.
    """
    with ExitStack() as held:
        problem = None
        if rank() == 0:
            try:
                held.enter_context(run_folder_lock(folder))
            except RunFolderBusyError as error:
                problem = str(error)
        problem = broadcast(problem)
        if problem is not None:
            raise RunFolderBusyError(problem)
        yield
