"""Our metrics as local ``evaluate`` modules (``load_metric``): same values as the functions, no
Hub access."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_metrics import VQAV2_MULTIPLE_CHOICE_SCORES
from vlm_eval.metrics import load_metric, score_captions

REFERENCE = Path(__file__).parent / "data" / "reference"
PUBLISHED_CAPTION_SCORES = json.loads((REFERENCE / "captions/published_scores.json").read_text())
VQAV2_ANNOTATIONS = REFERENCE / "vqav2" / "v2_mscoco_val2014_annotations_first100.json"


def _dynamic_modules() -> list[str]:
    return [name for name in sys.modules if name.split(".")[0] == "evaluate_modules"]


@pytest.fixture(scope="module", autouse=True)
def hf_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """evaluate's caches in a temp dir, not the user's.

    evaluate reads ``HF_HOME`` once, when imported, so its config is patched instead; and it
    imports every module through the package ``evaluate_modules`` of the first modules cache a
    process used, so that package is set aside for these tests and restored after them.
    """
    import evaluate.config

    root = tmp_path_factory.mktemp("hf_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluate.config, "HF_MODULES_CACHE", root / "modules")
        patch.setattr(evaluate.config, "HF_METRICS_CACHE", root / "metrics")
        patch.setattr(sys, "path", [*sys.path])  # evaluate appends the modules cache to it
        for name in _dynamic_modules():
            patch.delitem(sys.modules, name)
        yield root
        for name in _dynamic_modules():
            del sys.modules[name]


def _vqav2() -> tuple[list[str], list[list[str]]]:
    """The multiple-choice answer and the ten human answers of the 100 real VQAv2 questions."""
    annotations = json.loads(VQAV2_ANNOTATIONS.read_text())["annotations"]
    assert len(annotations) == 100
    return (
        [ann["multiple_choice_answer"] for ann in annotations],
        [[answer["answer"] for answer in ann["answers"]] for ann in annotations],
    )


# --------------------------------------------------------------------------------------------
# Loading


def test_modules_load_from_the_package_into_the_given_cache(hf_cache: Path) -> None:
    for name in ("vqa_accuracy", "coco_caption"):
        metric = load_metric(name)
        assert metric.name == name
        script = Path(sys.modules[type(metric).__module__].__file__)
        assert script.name == f"{name}.py"
        assert script.is_relative_to(hf_cache / "modules" / "evaluate_modules" / "metrics" / name)
        assert metric.citation.startswith("@")
        assert list(metric.features) == ["predictions", "references"]


def test_unknown_metric_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown metric 'bleu'.*'coco_caption', 'vqa_accuracy'"):
        load_metric("bleu")


def test_loads_without_hub_offline_from_another_cwd_and_a_fresh_hf_home(tmp_path: Path) -> None:
    """A fresh process: no HF_HUB_OFFLINE, a new HF_HOME, another cwd, every connection refused
    and recorded; evaluate must not try the network for a local script."""
    script = textwrap.dedent(
        """
        import socket

        attempts = []

        def refuse(*args, **kwargs):
            attempts.append(args)
            raise OSError("network disabled by the test")

        socket.socket.connect = socket.getaddrinfo = socket.create_connection = refuse

        from vlm_eval.metrics import load_metric

        vqa = load_metric("vqa_accuracy")
        print(vqa.compute(predictions=["Two"], references=[["2"] * 10])["accuracy"], attempts)
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE")}
    env["HF_HOME"] = str(tmp_path / "hf")
    env.pop("HF_MODULES_CACHE", None)
    env.pop("HF_METRICS_CACHE", None)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["100.0", "[]"]
    copied = tmp_path / "hf" / "modules" / "evaluate_modules" / "metrics" / "vqa_accuracy"
    assert list(copied.glob("*/vqa_accuracy.py"))


# --------------------------------------------------------------------------------------------
# VQA accuracy


@pytest.mark.parametrize(("upper", "mode", "expected"), VQAV2_MULTIPLE_CHOICE_SCORES)
def test_vqav2_multiple_choice_answer_scores(upper: bool, mode: str, expected: float) -> None:
    predictions, references = _vqav2()
    if upper:
        predictions = [prediction.upper() for prediction in predictions]
    result = load_metric("vqa_accuracy", mode=mode).compute(
        predictions=predictions, references=references
    )
    assert result == {"accuracy": pytest.approx(expected)}


def test_mode_at_compute_overrides_the_one_at_load() -> None:
    predictions, references = _vqav2()
    upper = [prediction.upper() for prediction in predictions]
    vqa = load_metric("vqa_accuracy", mode="official")
    normalized = vqa.compute(predictions=upper, references=references, mode="normalized")
    assert normalized["accuracy"] == pytest.approx(98.40)
    assert vqa.compute(predictions=upper, references=references)["accuracy"] == pytest.approx(66.40)


def test_add_batch_streaming_equals_one_compute() -> None:
    predictions, references = _vqav2()
    predictions = [p.upper() if i % 2 else p for i, p in enumerate(predictions)]
    vqa = load_metric("vqa_accuracy", mode="official")
    whole = vqa.compute(predictions=predictions, references=references, return_per_sample=True)
    for start in range(0, 98, 7):
        batch = slice(start, start + 7)
        vqa.add_batch(predictions=predictions[batch], references=references[batch])
    for i in (98, 99):
        vqa.add(prediction=predictions[i], reference=references[i])
    assert vqa.compute(return_per_sample=True) == whole
    assert 66.40 < whole["accuracy"] < 98.40


def test_per_sample_scores() -> None:
    result = load_metric("vqa_accuracy").compute(
        predictions=["Two", "cat", "no", "yes"],
        references=[["2"] * 10, ["dog"] * 10, ["yes"] * 9 + ["no"], ["yes"] * 2 + ["no"] * 8],
        return_per_sample=True,
    )
    assert result["per_sample"] == pytest.approx([100.0, 0.0, 30.0, 60.0])
    assert result["accuracy"] == pytest.approx(47.5)


def test_stem_answers() -> None:
    horses = {"predictions": ["horses"], "references": [["horse"] * 10]}
    assert load_metric("vqa_accuracy").compute(**horses) == {"accuracy": 0.0}
    assert load_metric("vqa_accuracy", stem_answers=True).compute(**horses) == {"accuracy": 100.0}
    assert load_metric("vqa_accuracy").compute(**horses, stem_answers=True) == {"accuracy": 100.0}


@pytest.mark.parametrize(
    ("predictions", "references", "message"),
    [
        # evaluate itself checks only the first sample of a batch and str()s the others.
        (["yes", 0], [["yes"], ["0"]], r"predictions\[1\] must be a string, got int: 0"),
        (["yes", None], [["yes"], ["no"]], r"predictions\[1\] must be a string, got NoneType"),
        (["yes", "no"], [["yes"], "no"], r"references\[1\] must be a list of strings, got 'no'"),
        (["yes"], [["yes", 1]], r"references\[0\] must be a list of strings"),
        (["yes"], None, "both predictions and references are needed"),
        ([], [], "no predictions to score"),
    ],
)
def test_vqa_input_errors(predictions: Any, references: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_metric("vqa_accuracy").compute(predictions=predictions, references=references)


def test_unknown_mode_is_an_error_at_load_and_at_compute() -> None:
    with pytest.raises(ValueError, match="unknown VQA accuracy mode 'exact'"):
        load_metric("vqa_accuracy", mode="exact")
    with pytest.raises(ValueError, match="unknown VQA accuracy mode 'exact'"):
        load_metric("vqa_accuracy").compute(predictions=["a"], references=[["a"]], mode="exact")


# --------------------------------------------------------------------------------------------
# COCO captions


def _caption_json(name: str) -> Any:
    return json.loads((REFERENCE / "captions" / name).read_text())


@pytest.fixture(scope="module")
def caption_results() -> dict[str, dict[str, Any]]:
    """Both prediction sets of the published example through the module (ids by position)."""
    if shutil.which("java") is None:
        pytest.fail("java is not on PATH: the caption metrics need a Java runtime")
    refs = _caption_json("refs.json")
    coco = load_metric("coco_caption")
    return {
        kind: coco.compute(
            predictions=list(_caption_json(f"{kind}_captions.json").values()),
            references=list(refs.values()),
            return_per_sample=True,
        )
        for kind in ("good", "bad")
    }


@pytest.mark.parametrize(("kind", "expected"), PUBLISHED_CAPTION_SCORES.items())
def test_published_caption_scores(
    caption_results: dict[str, dict[str, Any]], kind: str, expected: dict[str, float]
) -> None:
    assert {name: round(caption_results[kind][name], 4) for name in expected} == expected


def test_caption_results_pass_score_captions_through(
    caption_results: dict[str, dict[str, Any]],
) -> None:
    """Every metric, skipped metric and per-image score of ``score_captions``, as is."""
    refs = _caption_json("refs.json")
    scores = score_captions(_caption_json("good_captions.json"), refs)
    assert caption_results["good"] == {
        **scores.metrics,
        "skipped": scores.skipped,
        "per_sample": [scores.per_image[image] for image in refs],
    }


def test_caption_input_errors() -> None:
    coco = load_metric("coco_caption")
    with pytest.raises(ValueError, match=r"predictions\[1\] must be a string, got int: 3"):
        coco.compute(predictions=["a cat", 3], references=[["a cat"], ["a dog"]])
    with pytest.raises(ValueError, match="image '0' has no reference"):
        coco.compute(predictions=["a cat"], references=[[]])
