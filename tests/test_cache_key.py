"""The cache key: predictions are reused only for the same model, task, prompt and generation."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import huggingface_hub
import pytest
from safetensors.torch import load_file, save_file

from vlm_eval.models import Generation, HuggingFaceAdapter, ModelAdapter, ModelInput
from vlm_eval.runner import RunConfig, run_evaluation
from vlm_eval.tasks import GenerationSettings, get_task, load_tasks


@pytest.fixture(autouse=True)
def _tasks() -> None:
    load_tasks()


class EchoAdapter(ModelAdapter):
    """Answers each prompt with its last text part; ``describe`` returns ``identity``."""

    name = "echo"

    def __init__(self) -> None:
        self.identity: dict[str, Any] = {
            "adapter": "echo",
            "weights_sha256": "0" * 64,
            "commit": None,
            "dtype": "float32",
            "device": "cpu",
            "processor_options": {},
        }

    def generate(
        self, inputs: Sequence[ModelInput], settings: GenerationSettings
    ) -> list[Generation]:
        return [Generation(str(item.prompt[-1].parts[-1]), prompt_tokens=1) for item in inputs]

    def describe(self) -> dict[str, Any]:
        return dict(self.identity)


Change = Callable[[pytest.MonkeyPatch, dict[str, Any], EchoAdapter], None]


def _model(**identity: Any) -> Change:
    return lambda monkeypatch, settings, adapter: adapter.identity.update(identity)


def _task(attribute: str, value: Any) -> Change:
    return lambda monkeypatch, settings, adapter: monkeypatch.setattr(
        type(get_task("vqav2")), attribute, value
    )


def _run(**changes: Any) -> Change:
    return lambda monkeypatch, settings, adapter: settings.update(changes)


def _evaluate(
    mini_data: Path, output: Path, adapter: ModelAdapter, **settings: Any
) -> dict[str, Any]:
    """Run vqav2 with ``adapter``; the task's timing (generated and reused samples)."""
    config = RunConfig(
        model="echo", model_args={}, tasks=("vqav2",), data_dir=mini_data, output_dir=output,
        **settings,
    )  # fmt: skip
    return run_evaluation(config, adapter)["tasks"]["vqav2"]["timing"]


@pytest.mark.parametrize(
    ("change", "reused"),
    [
        pytest.param(_model(weights_sha256="1" * 64), False, id="weights"),
        pytest.param(_model(commit="f" * 40), False, id="hub commit"),
        pytest.param(_model(dtype="bfloat16"), False, id="dtype"),
        pytest.param(_model(processor_options={"image_longest_edge": 980}), False, id="processor"),
        pytest.param(_task("version", "1.1"), False, id="task version"),
        pytest.param(_task("question_template", "{question}\nOne word."), False, id="prompt"),
        pytest.param(_run(seed=7), False, id="few-shot seed"),  # other shots for all 4 samples
        pytest.param(_run(num_fewshot=2), False, id="number of shots"),
        pytest.param(_task("generation", GenerationSettings(8, ("\n",))), False, id="max tokens"),
        pytest.param(_task("generation", GenerationSettings(16, ("\n", "."))), False, id="stop"),
        pytest.param(_model(device="cuda:1"), True, id="device"),
        pytest.param(_run(task_args={"vqav2": {"vqa_mode": "official"}}), True, id="scoring"),
        pytest.param(_run(batch_size=1), True, id="batch size"),
    ],
)
def test_predictions_are_reused_only_for_the_same_model_task_prompt_and_generation(
    change: Change,
    reused: bool,
    mini_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings: dict[str, Any] = {"limit": 4, "num_fewshot": 1, "batch_size": 2, "num_workers": 0}
    adapter = EchoAdapter()
    assert _evaluate(mini_data, tmp_path, adapter, **settings)["generated_samples"] == 4
    change(monkeypatch, settings, adapter)
    timing = _evaluate(mini_data, tmp_path, adapter, **settings)
    assert (timing["reused_samples"], timing["generated_samples"]) == ((4, 0) if reused else (0, 4))


def test_changed_weights_are_generated_again(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    checkpoint = shutil.copytree(tiny_model_dir, tmp_path / "checkpoint")

    def evaluate(batch_size: int = 8) -> dict[str, Any]:
        adapter = HuggingFaceAdapter(pretrained=str(checkpoint), device="cpu", dtype="float32")
        return _evaluate(
            mini_data, tmp_path / "run", adapter, limit=2, num_workers=0, batch_size=batch_size
        )

    assert evaluate()["generated_samples"] == 2
    # The same weights, loaded again (another batch size: the run is not up to date as it is).
    assert evaluate(batch_size=1)["reused_samples"] == 2
    weights = load_file(checkpoint / "model.safetensors")
    name = next(name for name, tensor in sorted(weights.items()) if tensor.is_floating_point())
    weights[name] = weights[name] + 0.01
    save_file(weights, checkpoint / "model.safetensors", metadata={"format": "pt"})
    assert evaluate()["generated_samples"] == 2


def test_a_hub_checkpoint_is_identified_by_the_commit_its_revision_points_to(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "hub" / "models--me--tiny"
    commits = ("1" * 40, "2" * 40)
    for commit in commits:
        shutil.copytree(tiny_model_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    for commit in commits:  # main moves to a new commit
        (repo / "refs" / "main").write_text(commit)
        info = HuggingFaceAdapter(pretrained="me/tiny", device="cpu", dtype="float32").describe()
        assert (info["pretrained"], info["revision"], info["commit"]) == ("me/tiny", None, commit)
