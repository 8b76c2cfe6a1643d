"""The evaluation loop: load every task's data, batch samples through a model, score, record."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import random
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, closing, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from vlm_eval._arguments import ArgumentsError, keyword_parameters
from vlm_eval._files import write_atomically
from vlm_eval._run_folder import RESULTS_FILE, template_entry
from vlm_eval.data import DataFormatError, ImageError, Sample
from vlm_eval.models import (
    MODELS,
    Generation,
    InputError,
    ModelAdapter,
    ModelInput,
    create_model,
)
from vlm_eval.protocols import get_protocol, protocol_spec
from vlm_eval.protocols._protocol import template_specs
from vlm_eval.results import (
    RunResults,
    SampleFailure,
    TaskCost,
    TaskDataInfo,
    TaskResult,
    TaskSpec,
    TaskTiming,
)
from vlm_eval.results import TaskScores as ResultScores
from vlm_eval.runner._batching import (
    BatchSize,
    BatchSizer,
    batch_size_limit,
    describe_batch_sizes,
    generate_with_backoff,
    generation_order,
    prepare_ahead,
)
from vlm_eval.runner._distributed import (
    all_gather,
    barrier,
    broadcast,
    process_group,
    rank,
    world_size,
)
from vlm_eval.runner._fewshot import ShotSelector, check_fewshot_selection, shot_selector
from vlm_eval.runner._images import DecodedBatch, RequestsDecoded, decode_batches, forks_workers
from vlm_eval.runner._lock import RunFolderBusyError, run_folder_lock
from vlm_eval.runner._provenance import collect_provenance, redact_secrets
from vlm_eval.runner._store import (
    JsonlPredictionStore,
    SampleRecord,
    WriteError,
)
from vlm_eval.tasks import (
    TASKS,
    Prompt,
    Task,
    TaskData,
    TaskScores,
    aggregate_scores,
    get_task,
    judge_output,
    prompt_images,
    prompt_to_json,
    resolve_task_data,
)

_TOKEN_COUNTS = ("prompt_tokens", "visual_tokens", "generated_tokens")


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Everything a run is asked to do; recorded verbatim in the results.

    Attributes:
        model: Registered adapter name (``hf``).
        model_args: Adapter arguments as given on the command line.
        tasks: Task names, in order.
        data_dir: Folder with one sub-folder per task, holding its data (official files, a
            ``save_to_disk`` folder or parquet files); ``None``: tasks read their hub dataset
            unless ``data_args`` says otherwise.
        output_dir: Where per-sample JSONL files and ``results.json`` go.
        limit: Evaluate only ``limit`` samples of each task (the first ones, see sample_seed).
        num_fewshot: Demonstrations per prompt, drawn from the task's few-shot split.
        batch_size: Samples per ``generate`` call, or ``auto``: the largest that fits, up to 64.
            Either backs off on GPU out-of-memory errors (``BatchSizer``).
        seed: Seed of the few-shot draws.
        task_args: Task name -> its options (``--task-args``), as strings.
        num_workers: Processes decoding images (0: the main process).
        data_args: Task name -> where its data comes from (``--data-args``), as strings.
        sample_seed: With ``limit``: evaluate a random subset of that size drawn with this
            seed (in the data's order) instead of the first ``limit`` samples.
        protocol: How every task that takes one is asked and read back (``--protocol``, see
            ``vlm_eval.protocols``); a task's own ``protocol`` in ``task_args`` wins. ``None``:
            ``chat`` if the model takes chat prompts, else ``idefics2-base`` (base checkpoints,
            which have no chat template).
        protocol_args: Options of that protocol (``--protocol-args``: ``max_new_tokens``,
            template ids, ...).
        prepare_in_workers: The image-decoding workers also run the model's ``prepare`` (its
            processor) on the batches they decode, instead of a thread of the main process
            (on an accelerator) or the main process itself. Needs workers started by ``fork``
            (Linux) and an adapter whose ``prepares_in_workers``.
        fewshot_selection: How demonstrations are chosen: ``random`` (drawn with ``seed``) or
            ``rices`` (the most similar images, ``vlm_eval.runner._rices``).
        fewshot_args: The selection's options (``--fewshot-args``, e.g. ``rices_model``).
        templates: A template sweep (``--templates``): each VQA and caption task is evaluated
            once per template of its protocol (``all``), or per template id listed, with the
            same samples and demonstrations; see ``_template_sweep``. ``None``: once.
    """

    model: str
    model_args: dict[str, str]
    tasks: tuple[str, ...]
    data_dir: Path | None
    output_dir: Path
    limit: int | None = None
    num_fewshot: int = 0
    batch_size: BatchSize = 8
    seed: int = 1234
    task_args: dict[str, dict[str, str]] = field(default_factory=dict)
    num_workers: int = 2
    data_args: dict[str, dict[str, str]] = field(default_factory=dict)
    sample_seed: int | None = None
    prepare_in_workers: bool = False
    protocol: str | None = None
    protocol_args: dict[str, str] = field(default_factory=dict)
    fewshot_selection: str = "random"
    fewshot_args: dict[str, str] = field(default_factory=dict)
    templates: tuple[str, ...] | Literal["all"] | None = None

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError("no task to evaluate: --tasks names none")
        if self.protocol is not None:  # an unknown name or option fails before the data is read
            get_protocol(protocol_spec(self.protocol, self.protocol_args))
        batch_size_limit(self.batch_size)  # a bad batch size fails before the data is read
        if self.prepare_in_workers and not forks_workers(self.num_workers):
            raise ValueError(
                "prepare_in_workers needs worker processes started by fork: num_workers of at "
                "least 1 on Linux (the start method here: "
                f"{multiprocessing.get_start_method()}, num_workers: {self.num_workers})"
            )
        if self.sample_seed is not None and self.limit is None:
            raise ValueError("sample_seed picks a random subset of --limit samples: give a limit")
        check_fewshot_selection(self.fewshot_selection, self.fewshot_args, self.num_fewshot)
        if self.templates == ():
            raise ValueError("--templates names no template: give `all` or template ids")


@dataclass(frozen=True, slots=True)
class _Request:
    sample: Sample
    shots: list[Sample]
    prompt: Prompt


def _task_data(task: Task, config: RunConfig) -> TaskData:
    args = config.data_args.get(task.name, {})
    return resolve_task_data(task, config.data_dir, args, fewshot=_shot_count(task, config) > 0)


def _shot_count(task: Task, config: RunConfig) -> int:
    """Demonstrations drawn per sample: ``num_fewshot``, or at 0-shot the text-only ones that
    the task's protocol shows (OpenFlamingo's 2)."""
    return config.num_fewshot or task.zero_shot_text_shots


def _prompt(task: Task, sample: Sample, shots: list[Sample], config: RunConfig) -> Prompt:
    """``task``'s prompt for ``sample``; at 0-shot, ``shots`` are shown as text only."""
    if config.num_fewshot == 0 and shots:
        return task.prompt(sample, shots, text_only=True)
    return task.prompt(sample, shots)


def _subset(samples: list[Sample], config: RunConfig) -> list[Sample]:
    """The first ``limit`` samples, or with ``sample_seed`` a seeded random ``limit`` of them
    (in their original order)."""
    if config.limit is None or config.sample_seed is None:
        return samples[: config.limit]
    count = min(config.limit, len(samples))  # a limit over the split's size takes it all
    chosen = set(random.Random(config.sample_seed).sample(range(len(samples)), count))
    return [sample for index, sample in enumerate(samples) if index in chosen]


def _draw(
    task: Task, data: TaskData, config: RunConfig, selector: ShotSelector
) -> list[tuple[Sample, list[Sample]]]:
    """The samples of ``task`` to evaluate, each with its demonstrations."""
    samples = data.load(task, data.split)
    if not samples:
        where = data.source.location if data.split is None else f"split {data.split!r}"
        raise DataFormatError(data.source.location, None, None, f"{where} holds no samples")
    samples = _subset(samples, config)
    count = _shot_count(task, config)
    pool = data.load_pool(task) if count else []
    support = task.fewshot_support_size
    if support is not None and len(pool) > support:  # a fixed random support set, in data order
        chosen = set(random.Random(config.seed).sample(range(len(pool)), support))
        pool = [shot for index, shot in enumerate(pool) if index in chosen]
    shots = selector.select(task.name, samples, pool, count)
    return list(zip(samples, shots, strict=True))


def _request_keys(task: Task, requests: Sequence[_Request], model: dict[str, Any]) -> list[str]:
    """Cache keys: a prediction is reused only for the same model (its ``describe()``: weights
    hash or hub commit, dtype, processor options, ...), task protocol (version, generation
    settings, prompt templates), sample and prompt (demonstrations and image keys included).

    The device is left out, so that a run resumes on other hardware, and so are scoring choices:
    a reused prediction is post-processed and scored again.
    """
    protocol = {
        k: v for k, v in task.describe().items() if k not in ("scoring", "sample_score_scale")
    }
    identity = json.dumps(
        [{k: v for k, v in model.items() if k != "device"}, protocol], sort_keys=True
    )
    return [
        hashlib.sha256(
            json.dumps([identity, r.sample.id, prompt_to_json(r.prompt)]).encode()
        ).hexdigest()[:32]
        for r in requests
    ]


def _ready(
    batch: Sequence[tuple[_Request, str]],
    decoded: DecodedBatch,
    failures: dict[str, dict[str, str]],
) -> tuple[Sequence[tuple[_Request, str]], list[tuple[_Request, str, ModelInput]], Any]:
    """``batch``, the inputs of its requests whose images could be read (the others are added
    to ``failures``) and what a decoding worker prepared of those inputs."""
    ready = []
    for (request, key), result in zip(batch, decoded.requests, strict=True):
        if isinstance(result, ImageError):
            failures[key] = {"sample_id": request.sample.id, "error": str(result)}
        else:
            ready.append((request, key, ModelInput(request.prompt, result)))
    return batch, ready, decoded.prepared


def _prepare_in_worker(
    adapter: ModelAdapter,
    batches: Sequence[Sequence[tuple[_Request, str]]],
    index: int,
    decoded: RequestsDecoded,
) -> Any:
    """``adapter.prepare`` of the inputs of batch ``index`` (in a decoding worker)."""
    _, ready, _ = _ready(batches[index], DecodedBatch(decoded), failures={})
    return adapter.prepare([item for _, _, item in ready]) if ready else None


def _judge(task: Task, sample: Sample, raw_output: str) -> dict[str, Any]:
    """The post-processed prediction and its per-sample scores, under the current options."""
    prediction, scores = judge_output(task, sample, raw_output)
    return {"prediction": prediction, "scores": scores}


def _record(
    task: Task,
    request: _Request,
    key: str,
    generation: Generation,
) -> SampleRecord:
    """The record of one prediction: nothing in it varies between runs of the same command."""
    return {
        "task": task.name,
        "sample_id": request.sample.id,
        "request_key": key,
        "prompt": prompt_to_json(request.prompt),
        "shots": [shot.id for shot in request.shots],
        "raw_output": generation.text,
        **_judge(task, request.sample, generation.text),
        "references": list(request.sample.references),
        "metadata": request.sample.metadata,
        "prompt_tokens": generation.prompt_tokens,
        "visual_tokens": generation.visual_tokens,
        "generated_tokens": generation.generated_tokens,
    }


def _reused(
    task: Task, on_disk: Iterable[Any], by_key: Mapping[str, _Request]
) -> dict[str, SampleRecord]:
    """The records ``on_disk`` (a store's ``load``) for these requests, built again: re-scored,
    and the same bytes as freshly generated ones."""
    return {
        key: _record(task, by_key[key], key, generation)
        for key, generation in filter(None, map(_stored_generation, on_disk))
        if key in by_key
    }


def _generate(
    task: Task,
    adapter: ModelAdapter,
    ready: Sequence[tuple[_Request, str, ModelInput]],
    sizer: BatchSizer,
    prepared: Any,
    failures: dict[str, dict[str, str]],
) -> Iterator[tuple[list[SampleRecord], float]]:
    """The records of ``ready``'s inputs, chunk by chunk as they are generated, with the seconds
    each chunk took. Inputs the model cannot take (``InputError``) are added to ``failures``,
    and the others generated without them."""
    while ready:
        answered = 0
        inputs = [item for _, _, item in ready]
        try:
            for chunk in generate_with_backoff(adapter, inputs, task.generation, sizer, prepared):
                yield (
                    [
                        _record(task, request, key, generation)
                        for (request, key, _), generation in zip(
                            ready[chunk.start : chunk.stop], chunk.generations, strict=True
                        )
                    ],
                    chunk.seconds,
                )
                answered = chunk.stop
            return
        except InputError as error:
            for index, problem in error.problems.items():
                request, key, _ = ready[index]
                failures[key] = {"sample_id": request.sample.id, "error": problem}
            ready = [
                item
                for index, item in enumerate(ready)
                if index >= answered and index not in error.problems
            ]
            prepared = None


@dataclass(frozen=True, slots=True)
class _Shard:
    """What one rank did during a task."""

    failures: dict[str, dict[str, str]]
    generated: int
    generation_seconds: float
    sizer: BatchSizer


def _stored_generation(record: Any) -> tuple[str, Generation] | None:
    """The request key and generation of a record from an earlier run; ``None`` if malformed."""
    if not isinstance(record, dict) or not isinstance(record.get("request_key"), str):
        return None
    text, *counts = (record.get(name) for name in ("raw_output", *_TOKEN_COUNTS))
    if not isinstance(text, str) or not all(type(count) is int for count in counts):
        return None
    return record["request_key"], Generation(text, *counts)


def _evaluate_task(
    entry: str,
    task: Task,
    data: TaskData,
    requests: Sequence[_Request],
    keys: Sequence[str],
    adapter: ModelAdapter,
    config: RunConfig,
) -> TaskResult | None:
    """Generate what is missing of a task, this rank's share of it, and on rank 0 merge every
    rank's records and return the task's results (``None`` on the other ranks); ``entry``
    names its files and results entry (the task's name, or ``template_entry``'s)."""
    distributed = world_size() > 1
    store = JsonlPredictionStore(
        config.output_dir / f"samples_{entry}.jsonl",
        config.output_dir / f"timing_{entry}.jsonl",
        config.output_dir / f"kept_{entry}.jsonl",
        part=rank() if distributed else None,
    )
    by_key = dict(zip(keys, requests, strict=True))
    samples = {key: request.sample for key, request in by_key.items()}
    # Rank 0 folds what earlier runs left (part files of any number of ranks included) into the
    # samples file before any rank appends to its part file; then the other ranks read it.
    if rank() == 0:
        on_disk = store.load()
        finished = _reused(task, on_disk, by_key)
        store.rewrite((finished[key] for key in keys if key in finished), on_disk)
    barrier()
    if rank() != 0:
        finished = _reused(task, store.load(), by_key)
    pending = [(r, key) for r, key in zip(requests, keys, strict=True) if key not in finished]
    pending = [pending[i] for i in generation_order([r.prompt for r, _ in pending])]
    sizer = BatchSizer(config.batch_size)
    batches = [
        pending[first : first + sizer.limit] for first in range(0, len(pending), sizer.limit)
    ][rank() :: world_size()]  # whole batches, dealt in turn: each rank gets long and short ones
    reused = len(finished)
    failures: dict[str, dict[str, str]] = {}
    started = time.perf_counter()
    generated = 0
    generation_seconds = 0.0
    in_workers = config.prepare_in_workers
    images = decode_batches(
        [[prompt_images(r.prompt) for r, _ in batch] for batch in batches],
        config.num_workers,
        partial(_prepare_in_worker, adapter, batches) if in_workers else None,
    )
    with (  # closing the images stops the decoding workers if generation fails
        tqdm(
            total=reused + sum(map(len, batches)),
            initial=reused,
            desc=entry,
            unit="sample",
            disable=rank() != 0,
        ) as bar,
        closing(images),
        closing(
            prepare_ahead(
                map(partial(_ready, failures=failures), batches, images),
                lambda batch: [item for _, _, item in batch[1]],
                lambda batch: batch[2],
                adapter.prepare if adapter.prepares_ahead and not in_workers else None,
            )
        ) as ahead,
    ):
        for (batch, ready, _), prepared in ahead:
            for records, seconds in _generate(task, adapter, ready, sizer, prepared, failures):
                generation_seconds += seconds
                generated += len(records)
                store.append(records, seconds)
                finished.update((record["request_key"], record) for record in records)
            bar.update(len(batch))
            if failures:
                bar.set_postfix(failed=len(failures))
    store.close()
    shards = all_gather(_Shard(failures, generated, generation_seconds, sizer))
    if rank() != 0:
        return None
    if distributed:
        finished.update(_reused(task, store.load(), by_key))
    failures = {key: failure for shard in shards for key, failure in shard.failures.items()}
    ordered = [finished[key] for key in keys if key in finished]
    generated = sum(shard.generated for shard in shards)
    generation_seconds = sum(shard.generation_seconds for shard in shards)
    scored = [r for r in ordered if samples[r["request_key"]].references]
    submission = None
    if scored:
        scores, sample_scores = aggregate_scores(
            task,
            [samples[r["request_key"]] for r in scored],
            [r["prediction"] for r in scored],
            [r["scores"] for r in scored],
        )
        for record, merged in zip(scored, sample_scores, strict=True):
            record["scores"] = merged
    elif ordered:
        submission, scores = _write_submission(entry, task, data, ordered, samples, config)
    else:
        scores = TaskScores(
            metrics={},
            notes={"not scored": f"all {len(requests)} samples failed (see failures)"},
        )
    store.rewrite(ordered)
    wall = time.perf_counter() - started
    count = max(len(ordered), 1)
    return TaskResult(
        task=TaskSpec.from_json(task.describe()),
        data=TaskDataInfo.from_json(
            {
                **data.describe(),
                "samples": len(requests),
                "failed": len(failures),
                "scored_samples": len(scored),
            }
        ),
        scores=ResultScores(
            metrics=scores.metrics, breakdowns=scores.breakdowns, notes=scores.notes
        ),
        submission_file=submission,
        failures=[SampleFailure.from_json(failures[key]) for key in keys if key in failures],
        samples_file=store.path.name,
        timing_file=store.timing_path.name,
        cost=TaskCost(
            prompt_tokens_mean=sum(r["prompt_tokens"] for r in ordered) / count,
            visual_tokens_mean=sum(r["visual_tokens"] for r in ordered) / count,
            generated_tokens_mean=sum(r["generated_tokens"] for r in ordered) / count,
        ),
        timing=TaskTiming(
            samples_per_second=generated / generation_seconds if generation_seconds else None,
            extra={
                "wall_seconds": wall,
                "generation_seconds": generation_seconds,
                "generated_samples": generated,
                "generated_samples_by_rank": [shard.generated for shard in shards],
                "reused_samples": reused,
                **describe_batch_sizes([shard.sizer for shard in shards]),
            },
        ),
    )


def _write_submission(
    entry: str,
    task: Task,
    data: TaskData,
    ordered: Sequence[SampleRecord],
    samples: Mapping[str, Sample],
    config: RunConfig,
) -> tuple[str, TaskScores]:
    """Write the evaluation server's results file of a split without references."""
    split = data.split or "split"
    path = config.output_dir / f"submission_{entry}_{split}.json"
    entries = [task.submission_entry(samples[r["request_key"]], r["prediction"]) for r in ordered]
    _write_summary(path, json.dumps(entries) + "\n", len(entries))
    note = (
        f"split {split} has no answers: the {len(entries)} predictions are in {path.name}, in "
        "the format of the benchmark's evaluation server (EvalAI for VQAv2)"
    )
    if config.limit is not None or config.sample_seed is not None:
        note += "; it holds a subset of the split (--limit), which the server does not accept"
    return path.name, TaskScores(metrics={}, notes={"not scored": note})


def _write_summary(path: Path, text: str, predictions: int) -> None:
    """Write a file made from the run's predictions (results, submission) atomically.

    Raises:
        WriteError: If it cannot be written; the previous file, if any, is left as it was.
    """
    try:
        write_atomically(path, [text])
    except OSError as error:
        raise WriteError(
            path,
            error,
            f"{predictions} predictions are safely on disk in {path.parent}/samples_*.jsonl "
            f"(the same command reuses them and writes {path.name})",
        ) from error


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
    options = _task_options(config, adapter)
    sweep, defaults = _template_sweep(config, options)
    tasks = [get_task(name, options.get(name)) for name in config.tasks]
    entries = {
        entry: task
        for base in tasks
        for entry, task in (
            [
                (template_entry(base.name, template), get_task(base.name, args))
                for template, args in sweep[base.name].items()
            ]
            if base.name in sweep
            else [(base.name, base)]
        )
    }
    data = {task.name: _task_data(task, config) for task in tasks}
    selector = shot_selector(
        config.fewshot_selection,
        config.fewshot_args,
        seed=config.seed,
        num_workers=config.num_workers,
    )
    with closing(selector):  # RICES's image encoder is released before the model loads
        drawn = {t.name: _draw(t, data[t.name], config, selector) for t in tasks}
    requests = {
        entry: [
            _Request(sample, shots, _prompt(task, sample, shots, config))
            for sample, shots in drawn[task.name]
        ]
        for entry, task in entries.items()
    }
    recorded = (
        {
            "templates": {name: list(ids) for name, ids in sweep.items()},
            "default_templates": defaults,
        }
        if sweep
        else {}
    )
    with _holding_run_folder(config.output_dir):
        return _evaluate_tasks(
            config,
            adapter,
            entries,
            {entry: data[task.name] for entry, task in entries.items()},
            requests,
            created,
            started,
            {"fewshot": selector.describe(), **recorded},
        )


def _template_sweep(
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


def _task_options(config: RunConfig, adapter: ModelAdapter | None) -> dict[str, dict[str, str]]:
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
        fixed = get_protocol(options[name]["protocol"]).task_options.get(name, {})
        options[name] = fixed | options[name]
    return options


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


def _evaluate_tasks(
    config: RunConfig,
    adapter: ModelAdapter | None,
    tasks: Mapping[str, Task],
    data: Mapping[str, TaskData],
    requests: Mapping[str, list[_Request]],
    created: str,
    started: float,
    recorded: dict[str, Any],
) -> str | None:
    """``_evaluate``'s work once the data is read and the run folder held: ``tasks``, ``data``
    and ``requests`` by task entry; ``recorded``: what the results hold besides (``fewshot``,
    ``templates``)."""
    adapter = adapter or create_model(config.model, config.model_args)
    if config.prepare_in_workers and not adapter.prepares_in_workers:
        raise ValueError(
            f"prepare_in_workers: the {adapter.name} adapter prepares its batches in the main "
            "process only"
        )
    for entry in tasks:  # a prompt the model cannot take fails the run before any generation
        for request in requests[entry]:
            adapter.check_prompt(request.prompt)
    model = adapter.describe()
    task_results = {
        entry: _evaluate_task(
            entry,
            task,
            data[entry],
            requests[entry],
            _request_keys(task, requests[entry], model),
            adapter,
            config,
        )
        for entry, task in tasks.items()
    }
    if rank() != 0:
        return None
    results = RunResults(
        created_at=created,
        config={
            **asdict(config),
            "model_args": {
                key: redact_secrets(f"{key}={value}").partition("=")[2]
                for key, value in config.model_args.items()
            },
            "data_dir": None if config.data_dir is None else str(config.data_dir),
            "output_dir": str(config.output_dir),
        },
        model=model,
        fewshot=recorded["fewshot"],
        templates=recorded.get("templates"),
        default_templates=recorded.get("default_templates"),
        provenance=collect_provenance(),
        tasks={entry: result for entry, result in task_results.items() if result is not None},
        wall_seconds=time.perf_counter() - started,
    )
    text = json.dumps(results.to_json(), indent=2, sort_keys=True) + "\n"
    predictions = sum(t.data.samples - t.data.failed for t in results.tasks.values())
    _write_summary(config.output_dir / RESULTS_FILE, text, predictions)
    return text
