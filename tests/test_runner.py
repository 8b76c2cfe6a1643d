"""The runner on the tiny checkpoint: per-sample JSONL, results JSON, reuse after a crash."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from vlm_eval.metrics import vqa_accuracy
from vlm_eval.models import Generation, HuggingFaceAdapter, ModelAdapter, ModelInput
from vlm_eval.runner import RunConfig, run_evaluation
from vlm_eval.tasks import GenerationSettings, get_task, load_tasks

RECORD_KEYS = {
    "task", "sample_id", "request_key", "prompt", "shots", "raw_output", "prediction",
    "references", "metadata", "scores", "prompt_tokens", "visual_tokens", "generated_tokens",
}  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def _tasks() -> None:
    load_tasks()


def _config(mini_data: Path, output: Path, tasks: tuple[str, ...], **overrides: Any) -> RunConfig:
    settings: dict[str, Any] = {"limit": 6, "batch_size": 4} | overrides
    return RunConfig(
        model="hf", model_args={}, tasks=tasks, data_dir=mini_data, output_dir=output, **settings
    )


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


class CrashingAdapter(ModelAdapter):
    """Delegates to a real adapter, then dies on the given call as a killed job would."""

    name = "crashing"

    def __init__(self, inner: ModelAdapter, crash_on_call: int):
        self.inner, self.crash_on_call, self.calls = inner, crash_on_call, 0

    def generate(
        self, inputs: Sequence[ModelInput], settings: GenerationSettings
    ) -> list[Generation]:
        self.calls += 1
        if self.calls == self.crash_on_call:
            raise RuntimeError("simulated crash")
        return self.inner.generate(inputs, settings)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()


def test_run_writes_records_and_results_that_agree(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    results = run_evaluation(
        _config(mini_data, tmp_path, ("vqav2", "textvqa")), adapter=tiny_adapter
    )
    assert json.loads((tmp_path / "results.json").read_text()) == results
    for task in ("vqav2", "textvqa"):
        records = _records(tmp_path / f"samples_{task}.jsonl")
        assert len(records) == 6
        assert all(set(r) == RECORD_KEYS for r in records)
        recomputed = [vqa_accuracy(r["prediction"], r["references"]) for r in records]
        assert [r["scores"]["accuracy"] for r in records] == recomputed
        entry = results["tasks"][task]
        assert entry["scores"]["metrics"]["accuracy"] == pytest.approx(
            100 * sum(recomputed) / len(recomputed)
        )
        assert entry["data"]["samples"] == 6
        assert entry["timing"]["generated_samples"] == 6
        assert entry["cost"]["visual_tokens_mean"] == tiny_adapter.processor.image_seq_len
    vqav2 = results["tasks"]["vqav2"]
    assert set(vqav2["scores"]["breakdowns"]) == {"answer_type", "question_type"}
    assert vqav2["task"]["version"] == "1.0"
    assert results["model"]["weights_sha256"]
    assert results["provenance"]["versions"]["transformers"]
    assert results["config"]["tasks"] == ["vqav2", "textvqa"]


def test_a_crashed_run_keeps_finished_batches_and_resumes_only_the_rest(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    reference = run_evaluation(
        _config(mini_data, tmp_path / "uninterrupted", ("vqav2",)), tiny_adapter
    )
    crashing = CrashingAdapter(tiny_adapter, crash_on_call=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_evaluation(_config(mini_data, tmp_path / "crashed", ("vqav2",)), crashing)
    survivors = _records(tmp_path / "crashed" / "samples_vqav2.jsonl")
    assert len(survivors) == 4  # the first batch of 4 was on disk before the crash

    resumed = run_evaluation(_config(mini_data, tmp_path / "crashed", ("vqav2",)), tiny_adapter)
    assert resumed["tasks"]["vqav2"]["timing"]["reused_samples"] == 4
    assert resumed["tasks"]["vqav2"]["timing"]["generated_samples"] == 2
    assert resumed["tasks"]["vqav2"]["scores"] == reference["tasks"]["vqav2"]["scores"]
    assert (tmp_path / "crashed" / "samples_vqav2.jsonl").read_bytes() == (
        tmp_path / "uninterrupted" / "samples_vqav2.jsonl"
    ).read_bytes()


def test_a_torn_last_line_is_ignored_and_recomputed(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    run_evaluation(_config(mini_data, tmp_path, ("okvqa",), limit=3), tiny_adapter)
    samples = tmp_path / "samples_okvqa.jsonl"
    complete = samples.read_bytes()
    lines = samples.read_text().splitlines()
    samples.write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])
    resumed = run_evaluation(_config(mini_data, tmp_path, ("okvqa",), limit=3), tiny_adapter)
    assert resumed["tasks"]["okvqa"]["timing"]["generated_samples"] == 1
    assert samples.read_bytes() == complete


def test_predictions_are_not_reused_when_the_prompt_changes(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    run_evaluation(_config(mini_data, tmp_path, ("okvqa",), limit=3), tiny_adapter)
    again = run_evaluation(
        _config(mini_data, tmp_path, ("okvqa",), limit=3, num_fewshot=1), tiny_adapter
    )
    assert again["tasks"]["okvqa"]["timing"]["generated_samples"] == 3


def test_few_shot_runs_record_their_demonstrations(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    run_evaluation(_config(mini_data, tmp_path, ("vqav2",), limit=3, num_fewshot=2), tiny_adapter)
    records = _records(tmp_path / "samples_vqav2.jsonl")
    for record in records:
        assert len(record["shots"]) == 2
        images = [
            c["image"] for m in record["prompt"] for c in m["content"] if c["type"] == "image"
        ]
        assert len(images) == 3 and images[-1] not in images[:2]


def test_captioning_is_scored_with_the_coco_metrics(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    results = run_evaluation(_config(mini_data, tmp_path, ("coco_caption",)), tiny_adapter)
    scores = results["tasks"]["coco_caption"]["scores"]
    assert set(scores["metrics"]) == {
        "BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr",
    }  # fmt: skip
    assert all(0.0 <= value <= 1000.0 for value in scores["metrics"].values())
    assert "SPICE skipped" in scores["notes"]
    records = _records(tmp_path / "samples_coco_caption.jsonl")
    assert all(set(record["scores"]) == {"CIDEr", "ROUGE-L"} for record in records)
    for metric in ("CIDEr", "ROUGE-L"):
        mean = sum(record["scores"][metric] for record in records) / len(records)
        assert 100.0 * mean == pytest.approx(scores["metrics"][metric], abs=1e-9)


def test_per_image_caption_scores_average_to_the_corpus_scores(mini_data: Path) -> None:
    task = get_task("coco_caption")
    samples = task.load(mini_data / "coco_caption", "test")[:4]
    # two predictions copy a reference, so CIDEr-D and ROUGE-L are far from zero
    predictions = [samples[0].references[0], "a shape", samples[2].references[1], "nothing"]
    scores = task.aggregate(samples, predictions, [{} for _ in samples])
    assert scores.sample_scores is not None and len(scores.sample_scores) == 4
    assert scores.metrics["CIDEr"] > 100.0
    for metric in ("CIDEr", "ROUGE-L"):
        per_image = [sample[metric] for sample in scores.sample_scores]
        assert per_image[0] > per_image[1] and per_image[2] > per_image[3]
        assert 100.0 * sum(per_image) / 4 == pytest.approx(scores.metrics[metric], abs=1e-9)


def test_an_unreadable_image_fails_its_samples_and_names_the_file(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    import shutil

    data = tmp_path / "data"
    shutil.copytree(mini_data / "vqav2", data / "vqav2")
    first = json.loads((data / "vqav2" / "v2_OpenEnded_mscoco_val2014_questions.json").read_text())
    questions = first["questions"][:6]
    image_id = questions[4]["image_id"]
    image = data / "vqav2" / "val2014" / f"COCO_val2014_{image_id:012d}.jpg"
    image.write_bytes(b"not a jpeg")
    results = run_evaluation(_config(data, tmp_path / "run", ("vqav2",)), tiny_adapter)
    failed = [str(q["question_id"]) for q in questions if q["image_id"] == image_id]
    failures = results["tasks"]["vqav2"]["failures"]
    assert [f["sample_id"] for f in failures] == failed and len(failed) == 2
    assert all(image.name in f["error"] for f in failures)
    assert len(_records(tmp_path / "run" / "samples_vqav2.jsonl")) == 6 - len(failed)


def test_credentials_in_model_args_are_not_written_to_results(
    tiny_adapter: HuggingFaceAdapter,
    mini_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        "sys.argv", ["vlm-eval", "--model-args", "base_url=http://h/v1,api_key=sk-1,tokenizer=t"]
    )
    config = _config(mini_data, tmp_path, ("vqav2",), limit=1)
    config.model_args.update({"api_key": "sk-1", "hf_token": "hf_2", "tokenizer": "t"})
    results = run_evaluation(config, tiny_adapter)
    assert results["config"]["model_args"] == {
        "api_key": "<redacted>", "hf_token": "<redacted>", "tokenizer": "t"
    }  # fmt: skip
    assert results["provenance"]["command"][-1] == (
        "base_url=http://h/v1,api_key=<redacted>,tokenizer=t"
    )
    assert "sk-1" not in (tmp_path / "results.json").read_text()
