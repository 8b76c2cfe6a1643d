"""What a run is asked to do (``RunConfig``), checked before any data is read."""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from vlm_eval.protocols import get_protocol, protocol_spec
from vlm_eval.runner._batching import BatchSize, batch_size_limit
from vlm_eval.runner._fewshot import check_fewshot_selection
from vlm_eval.runner._images import forks_workers
from vlm_eval.tasks import JudgeSpec


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
            same samples and demonstrations; see ``template_sweep``. ``None``: once.
        judge: The judge model of every task that takes one (judged answers: MathVista), a
            registered model adapter (``--judge NAME ARGS``), asked about the answers the
            task's rules cannot read; a task's own ``judge`` in ``task_args`` wins. ``None``:
            answers are read by the rules only.
        judge_args: The judge adapter's arguments (``--model-args``'s form); credentials in
            them are recorded redacted.
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
    judge: str | None = None
    judge_args: dict[str, str] = field(default_factory=dict)

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
        if self.judge is not None:  # an unknown adapter or argument fails before the data
            JudgeSpec(self.judge, self.judge_args).check()
        elif self.judge_args:
            raise ValueError("judge_args without a judge: name its adapter (--judge NAME ARGS)")
