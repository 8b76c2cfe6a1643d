"""RICES few-shot selection (``--fewshot-selection rices``) on a tiny random CLIP: the chosen
demonstrations are the known nearest images (exact and near duplicates of the query), and the
support set's embeddings are computed once, then reused by later runs with any number of
processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from vlm_eval.cli import main
from vlm_eval.data import Sample
from vlm_eval.demo.tiny import clip
from vlm_eval.models import HuggingFaceAdapter, ModelLoadError
from vlm_eval.report import Run, render_markdown
from vlm_eval.results import RunResults
from vlm_eval.runner import RunConfig, run_evaluation
from vlm_eval.runner._rices import ImageEncoder, RicesOptions, RicesSelector
from vlm_eval.tasks import load_tasks

BIN = Path(sys.executable).parent
QUERIES = 3
DISTRACTORS = 6


@pytest.fixture(autouse=True)
def _tasks() -> None:
    load_tasks()


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clip.build(tmp_path_factory.mktemp("checkpoints") / "tiny-clip")


def _noise(seed: int) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def _nudged(image: Image.Image) -> Image.Image:
    """``image`` with one pixel changed."""
    pixels = np.array(image)
    pixels[0, 0] = 255 - pixels[0, 0]
    return Image.fromarray(pixels)


def _write_split(folder: Path, subtype: str, images: dict[int, Image.Image]) -> None:
    """VQAv2's official files for one question per image (image id i: question id i * 10)."""
    (folder / subtype).mkdir(parents=True)
    questions, annotations = [], []
    for image_id, image in images.items():
        # PNG under the official .jpg name: the pixels are exactly these (decoders read the
        # format from the bytes), so that copies are exact and near duplicates one pixel apart
        image.save(folder / subtype / f"COCO_{subtype}_{image_id:012d}.jpg", format="PNG")
        question = {"image_id": image_id, "question": "What is it?", "question_id": image_id * 10}
        questions.append(question)
        answers = [
            {"answer": "noise", "answer_confidence": "yes", "answer_id": i} for i in range(10)
        ]
        annotations.append(
            {"answer_type": "other", "answers": answers, "image_id": image_id,
             "multiple_choice_answer": "noise", "question_id": image_id * 10,
             "question_type": "what is"}
        )  # fmt: skip
    info = {"data_subtype": subtype, "data_type": "mscoco", "info": {}, "license": {}}
    (folder / f"v2_OpenEnded_mscoco_{subtype}_questions.json").write_text(
        json.dumps({**info, "questions": questions, "task_type": "Open-Ended"})
    )
    (folder / f"v2_mscoco_{subtype}_annotations.json").write_text(
        json.dumps({**info, "annotations": annotations})
    )


@pytest.fixture(scope="module")
def rices_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """VQAv2 data whose support set holds, for query image ``q`` (image id ``q``), an exact copy
    (image id ``100 + q``) and a one-pixel variant (``200 + q``), among random distractors."""
    root = tmp_path_factory.mktemp("rices_data")
    queries = {q: _noise(q) for q in range(1, QUERIES + 1)}
    support = {100 + q: image.copy() for q, image in queries.items()}
    support |= {200 + q: _nudged(image) for q, image in queries.items()}
    support |= {300 + d: _noise(1000 + d) for d in range(DISTRACTORS)}
    _write_split(root / "vqav2", "val2014", queries)
    _write_split(root / "vqav2", "train2014", support)
    return root


def _expected_shots(query_ids: list[str]) -> dict[str, list[str]]:
    """Question ``10 q``'s two demonstrations: the near duplicate, then the exact copy (the most
    similar last, next to the query)."""
    return {qid: [str((200 + int(qid) // 10) * 10), str((100 + int(qid) // 10) * 10)]
            for qid in query_ids}  # fmt: skip


def _shots(output: Path) -> dict[str, list[str]]:
    lines = (output / "samples_vqav2.jsonl").read_text().splitlines()
    return {record["sample_id"]: record["shots"] for record in map(json.loads, lines)}


@pytest.fixture()
def forward_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of images of each forward pass of the RICES encoder in this process."""
    calls: list[int] = []
    features = ImageEncoder.features

    def counted(self: ImageEncoder, images: Any) -> np.ndarray:
        calls.append(len(images))
        return features(self, images)

    monkeypatch.setattr(ImageEncoder, "features", counted)
    return calls


def _config(data: Path, output: Path, clip_dir: Path, cache: Path, **overrides: Any) -> RunConfig:
    settings: dict[str, Any] = {
        "num_fewshot": 2,
        "fewshot_selection": "rices",
        "fewshot_args": {"rices_model": str(clip_dir), "batch_size": "4", "cache_dir": str(cache)},
        "batch_size": 4,
        "num_workers": 0,
    } | overrides
    return RunConfig(
        model="hf", model_args={}, tasks=("vqav2",), data_dir=data, output_dir=output, **settings
    )


def test_rices_picks_the_duplicates_and_reuses_the_cached_support_embeddings(
    tiny_adapter: HuggingFaceAdapter,
    rices_data: Path,
    clip_dir: Path,
    tmp_path: Path,
    forward_calls: list[int],
) -> None:
    cache = tmp_path / "cache"
    results = run_evaluation(_config(rices_data, tmp_path / "run", clip_dir, cache), tiny_adapter)
    support = 2 * QUERIES + DISTRACTORS
    assert forward_calls == [4, 4, 4, 3]  # the support set in batches of 4, then the queries
    shots = _shots(tmp_path / "run")
    assert shots == _expected_shots(list(shots)) and len(shots) == QUERIES
    fewshot = results["fewshot"]
    assert fewshot["selection"] == "rices" and fewshot["order"].startswith("most similar last")
    assert fewshot["model"]["pretrained"] == str(clip_dir.resolve())
    assert len(fewshot["model"]["weights_sha256"]) == 64
    task = fewshot["tasks"]["vqav2"]
    assert (task["embeddings"], task["support_images"]) == ("computed", support)
    assert results["config"]["fewshot_selection"] == "rices"
    assert results["config"]["fewshot_args"]["rices_model"] == str(clip_dir)
    (cached,) = cache.iterdir()
    assert cached == Path(task["embeddings_cache"]) and np.load(cached).shape == (support, 16)
    report = render_markdown([Run("run", tmp_path / "run", RunResults.from_json(results))])
    assert f"2-shot (RICES, {clip_dir.resolve()})" in report

    forward_calls.clear()
    again = run_evaluation(_config(rices_data, tmp_path / "again", clip_dir, cache), tiny_adapter)
    assert forward_calls == [3]  # the queries only
    assert again["fewshot"]["tasks"]["vqav2"]["embeddings"] == "reused"
    assert _shots(tmp_path / "again") == shots


def test_rices_never_picks_the_query_or_a_question_about_its_image(
    rices_data: Path, clip_dir: Path, tmp_path: Path
) -> None:
    folder = rices_data / "vqav2"
    queries = [Sample(str(q), folder / "val2014" / f"COCO_val2014_{q:012d}.jpg", ("x",))
               for q in range(1, QUERIES + 1)]  # fmt: skip
    # The pool holds each query itself, another question about its image, and its duplicates.
    pool = [*queries, *(Sample(f"again-{s.id}", s.image, ("x",)) for s in queries)]
    pool += [Sample(str(i), folder / "train2014" / f"COCO_train2014_{i:012d}.jpg", ("x",))
             for i in (101, 201, 301, 302)]  # fmt: skip
    options = RicesOptions(rices_model=str(clip_dir), cache_dir=str(tmp_path))
    chosen = RicesSelector(options, num_workers=0).select("vqav2", queries, pool, 2)
    assert [s.id for s in chosen[0]] == ["201", "101"]
    # Queries 2 and 3 have no duplicate left but each other, whose images are not about theirs.
    assert all(queries[i] not in chosen[i] and len(chosen[i]) == 2 for i in range(QUERIES))
    with pytest.raises(ValueError, match="fewer than 9 demonstrations usable for sample 1"):
        RicesSelector(options, num_workers=0).select("vqav2", queries, pool, 9)  # 10 - 2 usable


def _cli_run(
    model: Path, data: Path, clip_dir: Path, cache: Path, output: Path, limit: int, processes: int
) -> dict[str, Any]:
    """``vlm-eval run`` with RICES, in one process or under torchrun; its results."""
    launcher = [str(BIN / "torchrun"), "--standalone", f"--nproc-per-node={processes}",
                "--no-python"] if processes > 1 else []  # fmt: skip
    arguments = [
        "run", "--model-args", f"pretrained={model},device=cpu,dtype=float32",
        "--tasks", "vqav2", "--data-dir", str(data), "--limit", str(limit),
        "--num-fewshot", "2", "--fewshot-selection", "rices",
        "--fewshot-args", f"rices_model={clip_dir},batch_size=4,cache_dir={cache}",
        "--batch-size", "2", "--num-workers", "0", "--output", str(output),
    ]  # fmt: skip
    finished = subprocess.run(
        [*launcher, str(BIN / "vlm-eval"), *arguments],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert finished.returncode == 0, (finished.stdout + finished.stderr)[-3000:]
    return json.loads((output / "results.json").read_text())


def test_the_cached_embeddings_serve_a_resume_with_two_processes(
    tiny_model_dir: Path, rices_data: Path, clip_dir: Path, tmp_path: Path
) -> None:
    cache, output = tmp_path / "cache", tmp_path / "run"
    first = _cli_run(tiny_model_dir, rices_data, clip_dir, cache, output, limit=1, processes=1)
    assert first["fewshot"]["tasks"]["vqav2"]["embeddings"] == "computed"
    (cached,) = cache.iterdir()
    written = cached.stat()
    results = _cli_run(tiny_model_dir, rices_data, clip_dir, cache, output, limit=3, processes=2)
    assert results["fewshot"]["tasks"]["vqav2"]["embeddings"] == "reused"
    assert list(cache.iterdir()) == [cached]
    assert (cached.stat().st_mtime_ns, cached.stat().st_ino) == (
        written.st_mtime_ns,
        written.st_ino,
    )  # not written again
    timing = results["tasks"]["vqav2"]["timing"]
    assert (timing["reused_samples"], timing["generated_samples"]) == (1, 2)
    shots = _shots(output)
    assert shots == _expected_shots(list(shots)) and len(shots) == QUERIES


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--fewshot-selection", "rices", "--fewshot-args", "rices_model=m"], "--num-fewshot"),
        (["--fewshot-selection", "rices", "--num-fewshot", "2"], "needs rices_model"),
        (["--fewshot-selection", "rices", "--num-fewshot", "2", "--fewshot-args",
          "rices_model=m,colour=red"], "does not accept colour"),
        (["--num-fewshot", "2", "--fewshot-args", "rices_model=m"], "random selection takes no"),
        (["--fewshot-selection", "nearest"], "'nearest' is not one of"),
    ],
)  # fmt: skip
def test_rices_options_are_checked_before_any_model_work(
    arguments: list[str], message: str, mini_data: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main,
        ["run", "--tasks", "vqav2", "--model-args", "pretrained=/nonexistent", "--data-dir",
         str(mini_data), "--output", str(tmp_path / "run"), *arguments],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "run").exists()


def test_a_model_that_is_not_an_image_encoder_is_refused(
    tiny_model_dir: Path, rices_data: Path, tmp_path: Path
) -> None:
    options = RicesOptions(rices_model=str(tiny_model_dir), cache_dir=str(tmp_path))
    sample = Sample("1", rices_data / "vqav2" / "val2014" / "COCO_val2014_000000000001.jpg", ())
    with pytest.raises(ModelLoadError, match="RICES needs a CLIP-style image encoder"):
        RicesSelector(options, num_workers=0).select("vqav2", [sample], [sample, sample], 1)
