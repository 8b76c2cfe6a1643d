"""Batching: longest prompts first within image groups, batch sizes that back off on GPU OOM."""

from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from tests.test_runner import _config, _records
from vlm_eval.cli import main
from vlm_eval.data import ImageFile
from vlm_eval.models import (
    Generation,
    HuggingFaceAdapter,
    ModelAdapter,
    ModelInput,
    PartialGenerationError,
)
from vlm_eval.runner import RunConfig, run_evaluation
from vlm_eval.runner._batching import (
    BatchSizer,
    generate_with_backoff,
    generation_order,
    prepare_ahead,
)
from vlm_eval.runner._images import order_by_image
from vlm_eval.tasks import (
    GenerationSettings,
    ImagePart,
    Message,
    Prompt,
    load_tasks,
    prompt_images,
    prompt_to_json,
)

SETTINGS = GenerationSettings(max_new_tokens=4)


@pytest.fixture(autouse=True, scope="module")
def _tasks() -> None:
    load_tasks()


class OutOfMemoryAdapter(ModelAdapter):
    """Delegates to a real adapter, but runs out of GPU memory on more than ``fits`` inputs."""

    name = "out-of-memory"

    def __init__(self, inner: ModelAdapter, fits: int):
        self.inner, self.fits = inner, fits
        self.calls: list[list[ModelInput]] = []

    def generate(
        self, inputs: Sequence[ModelInput], settings: GenerationSettings
    ) -> list[Generation]:
        self.calls.append(list(inputs))
        if len(inputs) > self.fits:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return self.inner.generate(inputs, settings)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    @property
    def sizes(self) -> list[int]:
        return [len(call) for call in self.calls]


class FullAfterOneCall(OutOfMemoryAdapter):
    """Answers its first call, then fits not even one input (another process took the GPU)."""

    def generate(
        self, inputs: Sequence[ModelInput], settings: GenerationSettings
    ) -> list[Generation]:
        generations = super().generate(inputs, settings)
        self.fits = 0
        return generations


class EchoAdapter(ModelAdapter):
    """Answers each input with its prompt's text, without a model."""

    name = "echo"

    def generate(
        self, inputs: Sequence[ModelInput], settings: GenerationSettings
    ) -> list[Generation]:
        return [Generation(str(item.prompt[0].parts[-1])) for item in inputs]

    def describe(self) -> dict[str, Any]:
        return {}


def _prompt(text: str, *images: str) -> Prompt:
    parts = (*(ImagePart(ImageFile(Path(image))) for image in images), text)
    return (Message("user", parts),)


def _echo_inputs(count: int) -> list[ModelInput]:
    return [ModelInput(_prompt(str(i), "a.jpg"), []) for i in range(count)]


@pytest.fixture(scope="module")
def one_by_one(
    _tasks: None,
    tiny_adapter: HuggingFaceAdapter,
    mini_data: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:
    """Sample id -> raw output, from a batch-size-1 run on the first 12 VQAv2 questions."""
    output = tmp_path_factory.mktemp("one-by-one")
    run_evaluation(_config(mini_data, output, ("vqav2",), limit=12, batch_size=1), tiny_adapter)
    return {r["sample_id"]: r["raw_output"] for r in _records(output / "samples_vqav2.jsonl")}


def test_out_of_memory_splits_the_batch_and_the_size_that_fits_is_kept(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path, one_by_one: dict[str, str]
) -> None:
    adapter = OutOfMemoryAdapter(tiny_adapter, fits=3)
    config = _config(mini_data, tmp_path, ("vqav2",), limit=12, batch_size=8)
    results = run_evaluation(config, adapter)

    # Batches of 8 then 4: 8 and 4 fail, 2 fits, bisection finds 3; the second batch starts at 3.
    assert adapter.sizes == [8, 4, 2, 3, 3, 3, 1]
    timing = results["tasks"]["vqav2"]["timing"]
    assert timing["batch_sizes"] == {"1": 1, "2": 1, "3": 3}
    assert timing["out_of_memory_batch_sizes"] == [8, 4]
    calls = _records(tmp_path / "timing_vqav2.jsonl")
    assert [call["batch_size"] for call in calls] == [2, 3, 3, 3, 1]
    records = _records(tmp_path / "samples_vqav2.jsonl")
    assert {r["sample_id"]: r["raw_output"] for r in records} == one_by_one
    assert len(set(one_by_one.values())) > 1  # the comparison can tell samples apart


def test_out_of_memory_on_one_sample_fails_the_run_and_keeps_finished_batches(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path, one_by_one: dict[str, str]
) -> None:
    adapter = FullAfterOneCall(tiny_adapter, fits=4)
    with pytest.raises(torch.cuda.OutOfMemoryError, match="does not fit even one sample") as error:
        run_evaluation(_config(mini_data, tmp_path, ("vqav2",), limit=6, batch_size=4), adapter)
    assert "saved in the run folder" in str(error.value)
    assert isinstance(error.value.__cause__, torch.cuda.OutOfMemoryError)
    assert adapter.sizes == [4, 2, 1]
    records = _records(tmp_path / "samples_vqav2.jsonl")
    assert len(records) == 4  # the first batch, on disk before the failure
    assert all(one_by_one[r["sample_id"]] == r["raw_output"] for r in records)
    assert not (tmp_path / "results.json").exists()


def test_auto_batch_size_settles_on_the_largest_that_fits(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path, one_by_one: dict[str, str]
) -> None:
    adapter = OutOfMemoryAdapter(tiny_adapter, fits=3)
    config = _config(mini_data, tmp_path, ("vqav2",), limit=12, batch_size="auto")
    results = run_evaluation(config, adapter)

    # One batch of 12 (auto tries up to 64): 12 and 6 fail, 3 fits, 4 fails, then 3 each time.
    assert adapter.sizes == [12, 6, 3, 4, 3, 3, 3]
    assert results["config"]["batch_size"] == "auto"
    timing = results["tasks"]["vqav2"]["timing"]
    assert timing["batch_sizes"] == {"3": 4}
    assert timing["out_of_memory_batch_sizes"] == [12, 6, 4]
    calls = _records(tmp_path / "timing_vqav2.jsonl")
    assert [call["batch_size"] for call in calls] == [3, 3, 3, 3]
    records = _records(tmp_path / "samples_vqav2.jsonl")
    assert {r["sample_id"]: r["raw_output"] for r in records} == one_by_one


def test_chunks_cover_the_inputs_in_order_and_the_cuda_cache_is_emptied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emptied: list[None] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(None))
    adapter = OutOfMemoryAdapter(EchoAdapter(), fits=3)
    inputs = _echo_inputs(10)
    chunks = list(generate_with_backoff(adapter, inputs, SETTINGS, BatchSizer(8)))
    assert [(c.start, c.stop) for c in chunks] == [(0, 2), (2, 5), (5, 8), (8, 10)]
    assert [g.text for c in chunks for g in c.generations] == [str(i) for i in range(10)]
    assert len(emptied) == 2  # after each out-of-memory error


def test_a_size_that_stops_fitting_restarts_the_search_below_it() -> None:
    adapter = OutOfMemoryAdapter(EchoAdapter(), fits=4)
    sizer = BatchSizer(4)
    chunks = generate_with_backoff(adapter, _echo_inputs(8), SETTINGS, sizer)
    next(chunks)
    adapter.fits = 1  # e.g. longer prompts, or memory taken by another process
    list(chunks)
    assert adapter.sizes == [4, 4, 2, 1, 1, 1, 1]
    assert sizer.size == 1
    assert sizer.describe() == {
        "batch_sizes": {"1": 4, "4": 1},
        "out_of_memory_batch_sizes": [4, 2],
    }


def test_other_errors_are_not_retried() -> None:
    class Failing(EchoAdapter):
        def generate(
            self, inputs: Sequence[ModelInput], settings: GenerationSettings
        ) -> list[Generation]:
            raise RuntimeError("CUDA error: device-side assert triggered")

    with pytest.raises(RuntimeError, match="device-side assert"):
        list(generate_with_backoff(Failing(), _echo_inputs(4), SETTINGS, BatchSizer(4)))


def test_the_answers_of_a_call_that_failed_come_before_its_error() -> None:
    class FailingAfterSome(EchoAdapter):
        def generate(
            self, inputs: Sequence[ModelInput], settings: GenerationSettings
        ) -> list[Generation]:
            answers = super().generate(inputs, settings)
            error = ConnectionError("request 4 failed")
            raise PartialGenerationError({i: answers[i] for i in (0, 1, 2, 4)}, error)

    chunks = generate_with_backoff(FailingAfterSome(), _echo_inputs(6), SETTINGS, BatchSizer(6))
    first, second = next(chunks), next(chunks)
    assert [(c.start, c.stop) for c in (first, second)] == [(0, 3), (4, 5)]
    assert first.seconds == pytest.approx(3 * second.seconds)  # the call's time, shared
    assert [g.text for g in first.generations + second.generations] == ["0", "1", "2", "4"]
    with pytest.raises(ConnectionError, match="request 4 failed"):
        next(chunks)


@pytest.mark.parametrize("batch_size", [0, -1, "x", True, 2.0])
def test_a_bad_batch_size_is_refused(batch_size: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive integer or 'auto'"):
        RunConfig(
            model="hf", model_args={}, tasks=("vqav2",), data_dir=None, output_dir=tmp_path,
            batch_size=batch_size,
        )  # fmt: skip
    assert BatchSizer("auto").limit == 64


def test_prompts_are_ordered_longest_first_with_each_image_group_together() -> None:
    prompts = [
        _prompt("x" * 5, "a.jpg"),
        _prompt("x" * 40, "b.jpg"),
        _prompt("x" * 6, "a.jpg"),
        _prompt("x" * 12, "c.jpg"),
        _prompt("x" * 39, "d.jpg"),
        _prompt("x" * 41, "b.jpg"),
        _prompt("x" * 12, "c.jpg"),
        _prompt("x" * 5, "e.jpg"),
        _prompt("x" * 3, "b.jpg", "f.jpg"),  # a demonstration's image makes it the longest
    ]
    # Groups in the order of their longest prompt (ties: data order), longest first within.
    assert generation_order(prompts) == [8, 5, 1, 4, 3, 6, 2, 0, 7]


def test_length_order_cuts_padding_and_keeps_image_groups_together() -> None:
    lengths = random.Random(0).choices(range(10, 200), k=40)
    prompts = [_prompt("x" * n, f"{i // 2}.jpg") for i, n in enumerate(lengths)]

    def padding(order: list[int], size: int = 4) -> int:
        batches = [order[i : i + size] for i in range(0, len(order), size)]
        return sum(max(lengths[i] for i in b) - lengths[i] for b in batches for i in b)

    order = generation_order(prompts)
    assert sorted(order) == list(range(40))
    assert padding(order) < padding(order_by_image([prompt_images(p) for p in prompts]))
    positions = [order.index(i) for i in range(40)]
    assert all(abs(positions[i] - positions[i + 1]) == 1 for i in range(0, 40, 2))
    assert generation_order(list(prompts)) == order


def test_generation_goes_longest_first_and_records_keep_the_data_order(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    adapter = OutOfMemoryAdapter(tiny_adapter, fits=4)
    run_evaluation(_config(mini_data, tmp_path, ("vqav2",), limit=12, batch_size=4), adapter)
    records = _records(tmp_path / "samples_vqav2.jsonl")
    questions = json.loads(
        (mini_data / "vqav2" / "v2_OpenEnded_mscoco_val2014_questions.json").read_text()
    )["questions"][:12]
    assert [r["sample_id"] for r in records] == [str(q["question_id"]) for q in questions]
    ids = {json.dumps(r["prompt"], sort_keys=True): r["sample_id"] for r in records}
    prompts = [
        json.dumps(prompt_to_json(i.prompt), sort_keys=True) for c in adapter.calls for i in c
    ]
    generated = [ids[prompt] for prompt in prompts]
    assert generated == [
        "74051000", "74051001",  # "Is there a circle in the picture?": the longest question
        "172810001", "172810000", "409779001", "409779000", "243628000", "243628001",
        "266329000", "266329001", "573012000", "573012001",
    ]  # fmt: skip


def test_the_cli_takes_a_positive_batch_size_or_auto(
    mini_data: Path, tmp_path: Path, recorded_run_configs: list[RunConfig]
) -> None:
    configs = recorded_run_configs
    cli = CliRunner()
    args = ["run", "--tasks", "vqav2", "--data-dir", str(mini_data), "--output", str(tmp_path)]
    for extra in (["--batch-size", "auto"], ["--batch-size", "16"], []):
        result = cli.invoke(main, [*args, *extra])
        assert result.exit_code == 0, result.output
    assert [config.batch_size for config in configs] == ["auto", 16, 8]
    for bad in ("0", "x", "-2", "Auto"):
        result = cli.invoke(main, [*args, "--batch-size", bad])
        assert result.exit_code == 2
        assert f"'{bad}' is neither a positive integer nor 'auto'" in result.output


class PreparingAdapter(EchoAdapter):
    """Prepares ahead; each batch's generation waits for the next batch's preparation to have
    started (up to 60 s: a safety net for a runner that never overlaps them), and records
    whether it had: proof the two overlap."""

    def __init__(self, batches: int):
        self.started = [threading.Event() for _ in range(batches)]
        self.prepared_on: list[str] = []
        self.overlapped: list[bool] = []

    @property
    def prepares_ahead(self) -> bool:
        return True

    def prepare(self, inputs: Sequence[ModelInput]) -> Any:
        batch = int(str(inputs[0].prompt[0].parts[-1])) // 4
        self.prepared_on.append(threading.current_thread().name)
        self.started[batch].set()
        return [f"prepared {item.prompt[0].parts[-1]}" for item in inputs]

    def generate_prepared(self, prepared: Any, settings: GenerationSettings) -> list[Generation]:
        batch = int(prepared[0].split()[1]) // 4
        if batch + 1 < len(self.started):
            self.overlapped.append(self.started[batch + 1].wait(timeout=60))
        return [Generation(text) for text in prepared]


def _same(batch: list[ModelInput]) -> list[ModelInput]:
    return batch


def _nothing(batch: list[ModelInput]) -> None:
    return None


def test_the_next_batch_is_prepared_on_a_thread_while_one_generates() -> None:
    adapter = PreparingAdapter(batches=3)
    inputs = _echo_inputs(12)
    batches = [inputs[i : i + 4] for i in range(0, 12, 4)]
    texts = [
        generation.text
        for batch, prepared in prepare_ahead(batches, _same, _nothing, adapter.prepare)
        for chunk in generate_with_backoff(adapter, batch, SETTINGS, BatchSizer(4), prepared)
        for generation in chunk.generations
    ]
    assert texts == [f"prepared {i}" for i in range(12)]
    assert adapter.overlapped == [True, True]
    assert all(name.startswith("vlm-eval-prepare") for name in adapter.prepared_on)


def test_batches_a_worker_prepared_are_not_prepared_again() -> None:
    batches = [(["a"], "prepared by a worker"), (["b"], None), ([], None)]
    threads: list[list[str]] = []

    def prepare(inputs: list[str]) -> str:
        threads.append(inputs)
        return "prepared on the thread"

    def results(prepare: Any) -> list[Any]:
        ahead = prepare_ahead(batches, lambda b: b[0], lambda b: b[1], prepare)
        return [None if future is None else future.result() for _, future in ahead]

    assert results(prepare) == ["prepared by a worker", "prepared on the thread", None]
    assert threads == [["b"]]
    assert results(None) == ["prepared by a worker", None, None]


def test_a_prepared_batch_that_runs_out_of_memory_is_retried_unprepared() -> None:
    class PreparedOutOfMemory(OutOfMemoryAdapter):
        prepares_ahead = True

        def generate_prepared(self, prepared: Any, settings: GenerationSettings) -> Any:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    adapter = PreparedOutOfMemory(EchoAdapter(), fits=2)
    ((batch, prepared),) = prepare_ahead([_echo_inputs(4)], _same, _nothing, adapter.prepare)
    assert prepared is not None
    chunks = list(generate_with_backoff(adapter, batch, SETTINGS, BatchSizer(4), prepared))
    assert [g.text for c in chunks for g in c.generations] == ["0", "1", "2", "3"]
    assert adapter.sizes == [2, 2]  # the prepared 4 failed; then chunks of 2, generated anew


def test_the_hf_adapter_preparing_ahead_gives_the_same_records(
    tiny_adapter: HuggingFaceAdapter,
    mini_data: Path,
    tmp_path: Path,
    one_by_one: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As on a GPU, the processor runs on a thread while the model generates (the tokenizer
    shared by both): the outputs are those of a sequential batch-1 run."""
    assert not tiny_adapter.prepares_ahead  # on the CPU it would only take cores from generate
    monkeypatch.setattr(HuggingFaceAdapter, "prepares_ahead", property(lambda self: True))
    run_evaluation(_config(mini_data, tmp_path, ("vqav2",), limit=12, batch_size=2), tiny_adapter)
    records = _records(tmp_path / "samples_vqav2.jsonl")
    assert {r["sample_id"]: r["raw_output"] for r in records} == one_by_one


@pytest.mark.parametrize("fails_in_workers", [False, True])
def test_the_hf_adapter_preparing_in_the_decoding_workers_gives_the_same_records(
    tiny_adapter: HuggingFaceAdapter,
    mini_data: Path,
    tmp_path: Path,
    one_by_one: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    fails_in_workers: bool,
) -> None:
    """The forked decoding workers run the processor and send its tensors: the outputs are
    those of a sequential batch-1 run, and this process prepares no batch itself unless a
    worker's ``prepare`` fails."""
    main_process, prepare = os.getpid(), HuggingFaceAdapter.prepare
    prepared_here: list[int] = []

    def spy(adapter: HuggingFaceAdapter, inputs: Sequence[ModelInput]) -> Any:
        if os.getpid() == main_process:
            prepared_here.append(len(inputs))
        elif fails_in_workers:
            raise RuntimeError("processor failure in a worker")
        return prepare(adapter, inputs)

    monkeypatch.setattr(HuggingFaceAdapter, "prepare", spy)
    config = _config(
        mini_data, tmp_path, ("vqav2",), limit=12, batch_size=4, prepare_in_workers=True
    )
    results = run_evaluation(config, tiny_adapter)
    records = _records(tmp_path / "samples_vqav2.jsonl")
    assert {r["sample_id"]: r["raw_output"] for r in records} == one_by_one
    assert results["tasks"]["vqav2"]["timing"]["batch_sizes"] == {"4": 3}
    assert prepared_here == ([4, 4, 4] if fails_in_workers else [])


def test_preparing_in_workers_needs_forked_workers_and_an_adapter_that_can(
    mini_data: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"needs worker processes started by fork.*num_workers: 0"):
        _config(mini_data, tmp_path, ("vqav2",), num_workers=0, prepare_in_workers=True)
    config = _config(mini_data, tmp_path / "run", ("vqav2",), prepare_in_workers=True)
    with pytest.raises(ValueError, match="the echo adapter prepares its batches in the main"):
        run_evaluation(config, EchoAdapter())
    assert not (tmp_path / "run").exists()
