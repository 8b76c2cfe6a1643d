"""The runner's stages one by one: plan, execute, score, the store's fold/append/finish, and the
up-to-date check that lets the same command on a finished run return at once."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.hostile.test_runs import EchoAdapter, config, write_textvqa
from vlm_eval.data import Sample
from vlm_eval.models import Generation, InputError, ModelInput
from vlm_eval.runner import JsonlPredictionStore, RunConfig, run_evaluation
from vlm_eval.runner import _store as store_module
from vlm_eval.runner._batching import BatchSizer
from vlm_eval.runner._execute import Execution
from vlm_eval.runner._plan import plan_task
from vlm_eval.runner._records import judge
from vlm_eval.runner._requests import Request
from vlm_eval.runner._score import score_task
from vlm_eval.tasks import GenerationSettings, Task, TaskScores, get_task, load_tasks


@pytest.fixture(autouse=True)
def _tasks() -> None:
    load_tasks()


@pytest.fixture()
def image(tmp_path: Path) -> Path:
    path = tmp_path / "image.png"
    Image.new("RGB", (8, 8), (10, 20, 30)).save(path)
    return path


def _requests(task: Task, image: Path, questions: Sequence[str]) -> list[Request]:
    samples = [
        Sample(str(i), image, ("yes",) * 10, question) for i, question in enumerate(questions)
    ]
    return [Request(sample, [], task.prompt(sample, [])) for sample in samples]


def test_the_plan_reuses_stored_answers_and_deals_the_rest_longest_first(image: Path) -> None:
    task = get_task("textvqa")
    requests = _requests(task, image, ["a?", "a much longer question?", "mid question?", "b?"])
    keys = ["k0", "k1", "k2", "k3"]
    stored = {"k3": Generation("yes"), "unrelated": Generation("no")}
    plan = plan_task(task, requests, keys, stored, batch_size=2)
    assert list(plan.reused) == ["k3"] and plan.reused["k3"].scores == {"accuracy": 1.0}
    assert [[key for _, key in batch] for batch in plan.batches] == [["k1", "k2"], ["k0"]]
    ranks = [plan_task(task, requests, keys, {}, 1, rank, 2).batches for rank in (0, 1)]
    assert [[[key for _, key in batch] for batch in batches] for batches in ranks] == [
        [["k1"], ["k0"]],
        [["k2"], ["k3"]],
    ]


class RefusingAdapter(EchoAdapter):
    """Refuses the inputs whose question is in ``refused`` (``InputError``)."""

    def __init__(self, refused: set[str]) -> None:
        super().__init__()
        self.refused = refused

    def generate(
        self, inputs: Sequence[ModelInput], settings: GenerationSettings
    ) -> list[Generation]:
        problems = {
            index: "too long"
            for index, item in enumerate(inputs)
            if str(item.prompt[-1].parts[-1]).partition("\n")[0] in self.refused
        }
        if problems:
            raise InputError(problems)
        return super().generate(inputs, settings)


def test_execution_turns_refused_inputs_and_unreadable_images_into_failures(
    image: Path, tmp_path: Path
) -> None:
    task = get_task("textvqa")
    requests = _requests(task, image, ["q0?", "q1?", "q2?", "q3?"])
    broken = Sample("4", tmp_path / "missing.png", ("yes",), "q4?")
    requests.append(Request(broken, [], task.prompt(broken, [])))
    batches = [[(r, f"k{i}") for i, r in enumerate(requests[:3])], [(requests[3], "k3")]]
    batches[1].append((requests[4], "k4"))
    adapter = RefusingAdapter({"q1?"})
    execution = Execution(adapter, task.generation, BatchSizer(3), 0, False)
    calls = list(execution.run(batches))
    answered = [[key for _, key, _ in call.answered] for call in calls]
    assert answered == [["k0", "k2"], [], ["k3"], []]
    assert [call.done for call in calls] == [0, 3, 0, 2]
    assert execution.failures["k1"] == {"sample_id": "1", "error": "too long"}
    assert execution.failures["k4"]["sample_id"] == "4"
    assert "missing.png" in execution.failures["k4"]["error"]


class SetScoringTask:
    """Scores each answer 1 and adds, from the whole set, each sample's rank (as CIDEr adds
    its per-image scores)."""

    def aggregate(
        self, samples: Sequence[Sample], predictions: Sequence[str], scores: Sequence[Any]
    ) -> TaskScores:
        return TaskScores(
            metrics={"n": float(len(samples))},
            sample_scores=[{"rank": float(i)} for i in range(len(samples))],
        )


def test_scoring_updates_the_answers_whose_scores_the_whole_set_changes(image: Path) -> None:
    task = get_task("textvqa")
    requests = {f"k{i}": r for i, r in enumerate(_requests(task, image, ["a?", "b?"]))}
    answers = {key: judge(task, r, Generation("yes")) for key, r in requests.items()}
    unused: Any = None  # the data and config name a submission file, not written here
    scored = score_task("textvqa", task, unused, requests, answers, ["k0", "k1"], unused)
    assert scored.scores.metrics == {"accuracy": 100.0} and scored.rescored == set()
    assert scored.scored_samples == 2

    class Wrapped(SetScoringTask):
        def __getattr__(self, name: str) -> Any:
            return getattr(task, name)

    wrapped: Any = Wrapped()
    scored = score_task("t", wrapped, unused, requests, answers, ["k0", "k1"], unused)
    assert scored.rescored == {"k0", "k1"}
    assert answers["k1"].scores == {"accuracy": 1.0, "rank": 1.0}


def _record(key: str, text: str = "yes") -> dict[str, Any]:
    return {
        "request_key": key,
        "sample_id": key,
        "raw_output": text,
        "prompt_tokens": 1,
        "visual_tokens": 0,
        "generated_tokens": 1,
    }


def _store(folder: Path) -> JsonlPredictionStore:
    return JsonlPredictionStore(
        folder / "samples.jsonl", folder / "timing.jsonl", folder / "kept.jsonl"
    )


def test_the_store_folds_what_it_reuses_and_keeps_the_rest(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.append([_record("a"), _record("b")], 0.5)
    store.append([_record("c")], 0.25)
    store.close()
    store = _store(tmp_path)
    assert store.fold({"a", "c"}) == {
        "a": Generation("yes", 1, 0, 1),
        "c": Generation("yes", 1, 0, 1),
    }
    assert [r["request_key"] for r in map(json.loads, (tmp_path / "samples.jsonl").open())] == [
        "a",
        "c",
    ]
    assert [json.loads(line)["request_key"] for line in (tmp_path / "kept.jsonl").open()] == ["b"]
    assert len((tmp_path / "timing.jsonl").read_text().splitlines()) == 2
    # Reused records are written again, appended ones copied as they were written.
    store.append([_record("d", "x\u2028y")], 0.1)
    digest = store.finish([("d", None), ("a", _record("a", "again"))])
    data = (tmp_path / "samples.jsonl").read_bytes()
    assert [json.loads(line)["raw_output"] for line in data.splitlines()] == ["x\u2028y", "again"]
    assert digest == store_module.hashlib.sha256(data).hexdigest()
    assert [
        call["request_keys"] for call in map(json.loads, (tmp_path / "timing.jsonl").open())
    ] == [
        ["a", "b"],
        ["d"],
    ]


def test_the_store_writes_nothing_when_nothing_moves_but_mends_a_torn_line(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    store.append([_record("a")], 0.5)
    store.close()
    inode = (tmp_path / "samples.jsonl").stat().st_ino
    assert _store(tmp_path).fold({"a"}) == {"a": Generation("yes", 1, 0, 1)}
    assert (tmp_path / "samples.jsonl").stat().st_ino == inode  # not replaced
    with (tmp_path / "samples.jsonl").open("ab") as stream:
        stream.write(b'{"request_key": "b", "raw_ou')  # a crash while appending
    store = _store(tmp_path)
    store.fold({"a", "b"})
    store.append([_record("b")], 0.5)
    store.close()
    keys = [json.loads(line)["request_key"] for line in (tmp_path / "samples.jsonl").open()]
    assert keys == ["a", "b"]


def test_appends_reach_the_disk_once_per_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, synced = [0.0], []
    monkeypatch.setattr(store_module.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(store_module.os, "fsync", synced.append)
    store = _store(tmp_path)
    for key in "abc":
        store.append([_record(key)], 0.1)
    assert synced == []  # written (a killed process loses none), not yet synced
    assert len((tmp_path / "samples.jsonl").read_bytes().splitlines()) == 3
    clock[0] = store_module.SYNC_SECONDS
    store.append([_record("d")], 0.1)
    assert len(synced) == 2  # the records file and the timing file
    store.close()
    assert len(synced) == 4


def test_the_same_command_on_a_finished_run_reads_nothing_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, output = write_textvqa(tmp_path / "data", ["a?", "b?", "c?"]), tmp_path / "run"
    first = run_evaluation(config(data, output), EchoAdapter())
    files = {path.name: path.stat().st_mtime_ns for path in output.glob("*.json*")}

    def no_reading(*args: Any) -> None:
        raise AssertionError("the data was read")

    with monkeypatch.context() as patch:
        patch.setattr("vlm_eval.runner._runner.draw", no_reading)
        adapter = EchoAdapter()
        assert run_evaluation(config(data, output), adapter) == first
    assert adapter.calls == []
    assert {path.name: path.stat().st_mtime_ns for path in output.glob("*.json*")} == files

    # Another command, an edited records file, another model: the run is done again.
    again = run_evaluation(config(data, output, limit=2), EchoAdapter())
    assert again["tasks"]["textvqa"]["timing"]["reused_samples"] == 2
    run_evaluation(config(data, output), EchoAdapter())
    samples = output / "samples_textvqa.jsonl"
    written = samples.read_bytes()
    samples.write_bytes(written.replace(b'"prediction": "a?"', b'"prediction": "A?"'))
    edited = run_evaluation(config(data, output), EchoAdapter())
    assert edited["tasks"]["textvqa"]["timing"]["reused_samples"] == 3
    assert samples.read_bytes() == written  # re-scored from the raw output
    other = EchoAdapter()
    other.describe = lambda: {"adapter": "another model"}  # type: ignore[method-assign]
    run_evaluation(config(data, output), other)
    assert other.calls == [3]


def test_a_run_with_failures_is_never_up_to_date(tmp_path: Path) -> None:
    data, output = write_textvqa(tmp_path / "data", ["a?", "b?"]), tmp_path / "run"
    (data / "textvqa" / "train_images" / "img1.jpg").write_bytes(b"not an image")
    first = run_evaluation(config(data, output), EchoAdapter())
    assert first["tasks"]["textvqa"]["data"]["failed"] == 1
    results = output / "results.json"
    written = results.stat().st_mtime_ns
    again = run_evaluation(config(data, output), EchoAdapter())  # the failed sample is retried
    assert again["tasks"]["textvqa"]["data"]["failed"] == 1
    assert results.stat().st_mtime_ns != written


def test_a_changed_data_file_is_seen_and_a_linked_folder_is_not_entered(tmp_path: Path) -> None:
    data, output = write_textvqa(tmp_path / "data", ["a?", "b?"]), tmp_path / "run"
    (data / "textvqa" / "loop").symlink_to(data / "textvqa")  # would recurse forever
    first = run_evaluation(config(data, output), EchoAdapter())
    assert first["tasks"]["textvqa"]["scores"]["metrics"]["accuracy"] == 0.0
    annotations = data / "textvqa" / "TextVQA_0.5.1_val.json"
    annotations.write_text(annotations.read_text().replace('"answer 0"', '"a?"'))
    adapter = EchoAdapter()
    again = run_evaluation(config(data, output), adapter)
    assert adapter.calls == []  # the answers changed, not the prompts: predictions reused
    assert again["tasks"]["textvqa"]["scores"]["metrics"]["accuracy"] == 50.0


def test_a_deleted_submission_or_timing_file_is_written_again(
    test_dev_data: Path, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    config = RunConfig(
        model="echo", model_args={}, tasks=("vqav2",), data_dir=test_dev_data,
        output_dir=output, num_workers=0,
        data_args={"vqav2": {"split": "test-dev2015", "fewshot_split": "train2014"}},
    )  # fmt: skip
    run_evaluation(config, EchoAdapter())
    submission = output / "submission_vqav2_test-dev2015.json"
    written = submission.read_bytes()
    submission.unlink()
    adapter = EchoAdapter()
    run_evaluation(config, adapter)
    assert adapter.calls == [] and submission.read_bytes() == written
    (output / "timing_vqav2.jsonl").unlink()  # the times are lost; the file is there again
    run_evaluation(config, adapter)
    assert adapter.calls == [] and (output / "timing_vqav2.jsonl").read_bytes() == b""


def test_a_data_folder_with_an_unreadable_corner_or_an_odd_file_name_still_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, output = write_textvqa(tmp_path / "data", ["a?"]), tmp_path / "run"
    folder = data / "textvqa"
    odd = b"odd-\xff\n".decode("utf-8", "surrogateescape") + "\u2028"  # not UTF-8, a newline
    (folder / odd).write_bytes(b"")
    first = run_evaluation(config(data, output), EchoAdapter())
    assert run_evaluation(config(data, output), EchoAdapter()) == first  # fingerprinted
    (folder / "locked").mkdir()
    scandir = os.scandir

    def refusing(path: Any) -> Any:
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr("vlm_eval.runner._uptodate.os.scandir", refusing)
    again = run_evaluation(config(data, output), EchoAdapter())  # not fingerprinted: redone
    assert again["tasks"]["textvqa"]["scores"] == first["tasks"]["textvqa"]["scores"]
    assert again["tasks"]["textvqa"]["timing"]["reused_samples"] == 1
