"""Images are decoded once each, in DataLoader workers; unreadable ones fail only their samples."""

from __future__ import annotations

import json
import mmap
import os
import shutil
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import pytest
import torch
from PIL import Image

from tests.test_runner import _config, _records
from vlm_eval.data import ImageError, ImageFile, ImageSource, Sample
from vlm_eval.models import Generation, HuggingFaceAdapter, ModelAdapter, ModelInput
from vlm_eval.report import Run, render_markdown
from vlm_eval.results import RunResults
from vlm_eval.runner import run_evaluation
from vlm_eval.runner._images import (
    BatchImages,
    RequestsDecoded,
    _image_at,
    _SharedSlots,
    _write_pixels,
    decode_batches,
    order_by_image,
    plan_images,
)
from vlm_eval.tasks import (
    TASKS,
    GenerationSettings,
    load_tasks,
    prompt_images,
    prompt_to_json,
    register_task,
)


@pytest.fixture(autouse=True, scope="module")
def _tasks() -> None:
    load_tasks()


@dataclass(frozen=True)
class LoggedImage(ImageSource):
    """An image file that appends ``PID KEY`` to ``log`` whenever it is read."""

    path: Path
    log: Path

    @property
    def key(self) -> str:
        return str(self.path)

    def read(self) -> bytes:
        with self.log.open("a") as stream:
            stream.write(f"{os.getpid()} {self.key}\n")
        return ImageFile(self.path).read()


class RecordingAdapter(ModelAdapter):
    """Delegates to a real adapter and keeps the inputs of every call."""

    name = "recording"

    def __init__(self, inner: ModelAdapter):
        self.inner = inner
        self.calls: list[list[ModelInput]] = []

    def generate(
        self, inputs: Sequence[ModelInput], settings: GenerationSettings
    ) -> list[Generation]:
        self.calls.append(list(inputs))
        return self.inner.generate(inputs, settings)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()


def _png(path: Path, size: tuple[int, int]) -> ImageFile:
    Image.new("RGB", size, "red").save(path)
    return ImageFile(path)


def _vqav2_image(data: Path, question: dict[str, Any]) -> Path:
    return data / "vqav2" / "val2014" / f"COCO_val2014_{question['image_id']:012d}.jpg"


def _vqav2_questions(data: Path) -> list[dict[str, Any]]:
    path = data / "vqav2" / "v2_OpenEnded_mscoco_val2014_questions.json"
    return json.loads(path.read_text())["questions"]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_each_distinct_image_is_decoded_once_in_the_worker_processes(
    num_workers: int, tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    log = tmp_path / "reads.log"
    vqav2 = TASKS.get("vqav2")

    @register_task
    class LoggedVQAv2(vqav2):
        name, data_folder = "vqav2_logged", "vqav2"

        def load(self, data_dir: Path, split: str) -> list[Sample]:
            samples = super().load(data_dir, split)
            return [replace(s, image=LoggedImage(s.image.path, log)) for s in samples]

    # Question pairs share an image, and batches of 3 split pairs; shots share train images.
    config = _config(
        mini_data,
        tmp_path / "run",
        ("vqav2_logged",),
        limit=12,
        batch_size=3,
        num_fewshot=1,
        num_workers=num_workers,
    )
    run_evaluation(config, tiny_adapter)

    reads = [line.split(" ", 1) for line in log.read_text().splitlines()]
    records = _records(tmp_path / "run" / "samples_vqav2_logged.jsonl")
    used = {c["image"] for r in records for m in r["prompt"] for c in m["content"] if "image" in c}
    assert len(records) == 12 and len(used) > 6  # 6 query images, plus the shots' images
    assert Counter(key for _, key in reads) == Counter(used)  # each image once
    pids = {int(pid) for pid, _ in reads}
    if num_workers:
        assert os.getpid() not in pids and len(pids) == num_workers
    else:
        assert pids == {os.getpid()}


def test_questions_about_the_same_image_are_generated_together(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    vqav2 = TASKS.get("vqav2")

    @register_task
    class InterleavedVQAv2(vqav2):
        """The first question of every image, then the second ones: A B C ... A B C ..."""

        name, data_folder = "vqav2_interleaved", "vqav2"

        def load(self, data_dir: Path, split: str) -> list[Sample]:
            return sorted(super().load(data_dir, split), key=lambda s: int(s.id) % 1000)

    adapter = RecordingAdapter(tiny_adapter)
    config = _config(mini_data, tmp_path, ("vqav2_interleaved",), limit=None, batch_size=2)
    run_evaluation(config, adapter)
    query_images = [{prompt_images(i.prompt)[-1].key for i in call} for call in adapter.calls]
    assert len(query_images) == 12 and all(len(keys) == 1 for keys in query_images)
    records = _records(tmp_path / "samples_vqav2_interleaved.jsonl")
    assert [int(r["sample_id"]) % 1000 for r in records] == [0] * 12 + [1] * 12


def test_the_plan_decodes_each_image_for_its_first_batch_and_drops_it_after_its_last() -> None:
    a, b = ImageFile(Path("a.jpg")), ImageFile(Path("b.jpg"))
    requests = [[a], [b], [a], [b], [a]]
    assert plan_images([requests[0:2], requests[2:4], requests[4:]]) == [
        BatchImages({"a.jpg": a, "b.jpg": b}, []),
        BatchImages({}, ["b.jpg"]),
        BatchImages({}, ["a.jpg"]),
    ]
    order = order_by_image(requests)
    assert order == [0, 2, 4, 1, 3]
    grouped = [requests[i] for i in order]
    assert plan_images([grouped[0:2], grouped[2:4], grouped[4:]]) == [
        BatchImages({"a.jpg": a}, []),
        BatchImages({"b.jpg": b}, ["a.jpg"]),
        BatchImages({}, ["b.jpg"]),
    ]
    # Requests are grouped by their query image (the last), not by few-shot images.
    c = ImageFile(Path("c.jpg"))
    assert order_by_image([[a, b], [b, a], [c, b], [c], []]) == [0, 2, 1, 3, 4]
    # Unshared: each batch decodes and drops all of its images.
    assert plan_images([requests[0:2], requests[2:4], requests[4:]], share=False) == [
        BatchImages({"a.jpg": a, "b.jpg": b}, ["a.jpg", "b.jpg"]),
        BatchImages({"a.jpg": a, "b.jpg": b}, ["a.jpg", "b.jpg"]),
        BatchImages({"a.jpg": a}, ["a.jpg"]),
    ]


def _describe_batch(index: int, requests: RequestsDecoded) -> tuple[int, int, list[Any]]:
    """A ``BatchPreparer`` for tests: the batch, the process and each request's image sizes
    (or error); batch 2 cannot be prepared."""
    if index == 2:
        raise ValueError("cannot prepare batch 2")
    described = [r.args[0] if isinstance(r, ImageError) else [i.size for i in r] for r in requests]
    return index, os.getpid(), described


@pytest.mark.parametrize("num_workers", [0, 2])
def test_forked_workers_prepare_the_batches_they_decode(num_workers: int, tmp_path: Path) -> None:
    a, b = _png(tmp_path / "a.png", (4, 3)), _png(tmp_path / "b.png", (2, 2))
    bad = ImageFile(tmp_path / "bad.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    batches = [[[a], [a, bad]], [[a, b]], [[b]], [[b], [a]]]
    decoded = list(decode_batches(batches, num_workers, _describe_batch))
    if not num_workers:  # no worker to prepare them
        assert [batch.prepared for batch in decoded] == [None] * 4
        return
    error = "cannot decode image " + str(tmp_path / "bad.png")
    prepared = [batch.prepared for batch in decoded]
    assert [p and (p[0], p[2]) for p in prepared] == [
        (0, [[(4, 3)], error + ": cannot identify the image format"]),
        (1, [[(4, 3), (2, 2)]]),
        None,  # its prepare raised
        (3, [[(2, 2)], [(4, 3)]]),
    ]
    assert os.getpid() not in {p[1] for p in prepared if p}  # prepared in the workers
    # Each batch decoded its own images: a worker has only those of its batches.
    first, second = decoded[0].requests[0], decoded[1].requests[0]
    assert isinstance(first, list) and isinstance(second, list)
    assert first[0] is not second[0] and first[0].tobytes() == second[0].tobytes()


@pytest.mark.parametrize("num_workers", [0, 2])
def test_decoded_images_are_shared_then_dropped_and_errors_stay_with_their_requests(
    num_workers: int, tmp_path: Path
) -> None:
    a, b = _png(tmp_path / "a.png", (4, 3)), _png(tmp_path / "b.png", (2, 2))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    bad, missing = ImageFile(tmp_path / "bad.png"), ImageFile(tmp_path / "missing.png")
    batches = [[[a], [a, bad]], [[a], [missing, a]], [[b], [bad]]]
    rng = torch.get_rng_state()
    decoded = decode_batches(batches, num_workers)

    first = next(decoded).requests
    image, error = first[0][0], first[1]
    assert isinstance(image, Image.Image) and image.size == (4, 3)
    assert isinstance(error, ImageError) and "bad.png" in str(error)
    released = weakref.ref(image)
    second = next(decoded).requests
    assert second[0][0] is image  # decoded once, shared
    assert isinstance(second[1], ImageError) and "missing.png" in str(second[1])
    del first, second, image
    third = next(decoded).requests
    assert released() is None  # no batch after the second needs it
    assert isinstance(third[0], list) and third[0][0].size == (2, 2)
    assert third[1] is error  # an error is not decoded again either
    assert next(decoded, None) is None
    assert torch.equal(torch.get_rng_state(), rng)  # the global RNG is left alone


@dataclass(frozen=True)
class GrayImage(ImageSource):
    """An image file that ``open`` returns in grayscale, not in RGB."""

    path: Path

    @property
    def key(self) -> str:
        return str(self.path)

    def read(self) -> bytes:
        return self.path.read_bytes()

    def open(self) -> Image.Image:
        with Image.open(self.path) as image:
            return image.convert("L")


def _unpacked(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The batches that will come out of shared memory slots, in order (filled as the main
    process unpacks them)."""
    unpacked: list[Any] = []
    unpack = _SharedSlots.unpack

    def spy(slots: _SharedSlots, batch: Any, copied: Any) -> Any:
        unpacked.append(batch)
        return unpack(slots, batch, copied)

    monkeypatch.setattr(_SharedSlots, "unpack", spy)
    return unpacked


def _slot_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, list[Any], list[str]]:
    """Batches of images for 2 workers, the batches that come out of shared memory slots
    (``_unpacked``) and the keys of the images that fit a slot.

    A slot takes 3 images of 4000 bytes: the small JPEGs (40x30, 4800 bytes of pixels) and not
    the large one (15000), which is pickled like the grayscale image. 15 batches go through
    8 slots (2 x 2 + 3, rounded up to a multiple of 2), so that every slot is written again;
    ``small`` is needed by the last batch too, so it is kept from the first batch to the last.
    """
    monkeypatch.setattr("vlm_eval.runner._images._SHARED_BYTES_PER_IMAGE", 4000)
    unpacked = _unpacked(monkeypatch)
    noise = Image.effect_noise((100, 50), 60).convert("RGB")
    noise.crop((0, 0, 40, 30)).save(tmp_path / "small.jpg", dpi=(72, 72))
    noise.save(tmp_path / "large.png")
    small, large = ImageFile(tmp_path / "small.jpg"), ImageFile(tmp_path / "large.png")
    gray = GrayImage(tmp_path / "large.png")
    crops = []
    for left in range(2, 60, 6):
        noise.crop((left, 10, left + 40, 40)).save(tmp_path / f"crop{left}.jpg")
        crops.append(ImageFile(tmp_path / f"crop{left}.jpg"))
    batches = [[[small], [large, gray]], [[small]], [[gray], [small]], [[large]]]
    batches += [[[crop]] for crop in crops] + [[[small]]]
    return batches, unpacked, [small.key] + [crop.key for crop in crops]


def _pixels(requests: list[list[Image.Image] | ImageError]) -> list[Any]:
    """Each request's images as (type, mode, size, info, pixels)."""
    assert all(isinstance(images, list) for images in requests)
    return [
        [(type(i), i.mode, i.size, i.info, i.tobytes()) for i in images]
        for images in cast(list[list[Image.Image]], requests)
    ]


def test_worker_processes_hand_over_the_images_in_shared_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches, unpacked, fitting = _slot_batches(tmp_path, monkeypatch)
    # A worker waits for its slot as long as it takes (the main process frees it when done
    # with the batch before), not 0.05 s: a slow machine must not make it pickle instead.
    monkeypatch.setattr("vlm_eval.runner._images._SLOT_WAIT_SECONDS", 60)
    in_process = [_pixels(batch.requests) for batch in decode_batches(batches, 0)]
    by_workers = [_pixels(batch.requests) for batch in decode_batches(batches, 2)]
    assert by_workers == in_process
    assert {image_type for batch in by_workers for r in batch for image_type, *_ in r} == {
        Image.Image
    }
    # Every image that fits came through a slot: no worker found its slot taken (the kept
    # ``small`` was copied out, or its slot would have stayed taken until the last batch).
    assert [key for batch in unpacked for key, *_ in batch.placed] == fitting


def test_images_held_by_the_main_process_keep_their_pixels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Holding every batch holds every slot: the workers pickle the batches they find no free
    # slot for, and no image held is written over.
    batches, unpacked, fitting = _slot_batches(tmp_path, monkeypatch)
    held = list(decode_batches(batches, 2))
    assert [_pixels(b.requests) for b in held] == [
        _pixels(b.requests) for b in decode_batches(batches, 0)
    ]
    assert 0 < sum(len(batch.placed) for batch in unpacked) < len(fitting)


@pytest.mark.parametrize("size", [(40, 30), (2400, 1800)])  # one of Pillow's blocks, several
def test_images_in_shared_memory_have_their_pixels_and_hold_the_memory(
    size: tuple[int, int],
) -> None:
    image = Image.effect_noise((40, 30), 60).convert("RGB").resize(size)
    memory = mmap.mmap(-1, 64 + size[0] * size[1] * 4)
    _write_pixels(memory, 64, image)
    view = memoryview(memory)
    released = weakref.finalize(view, lambda: None)
    mapped = _image_at(view, 64, size)
    del view
    assert (type(mapped), mapped.mode, mapped.size) == (Image.Image, "RGB", size)
    assert mapped.tobytes() == image.tobytes()
    assert released.alive  # the image holds the memory until it is gone
    del mapped
    assert not released.alive


def test_unreadable_images_fail_their_samples_and_the_run_goes_on(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(mini_data / "vqav2", data / "vqav2")
    questions = _vqav2_questions(data)[:10]
    missing, corrupt = _vqav2_image(data, questions[2]), _vqav2_image(data, questions[6])
    missing.unlink()
    corrupt.write_bytes(b"not a jpeg")
    bad = {str(q["question_id"]): _vqav2_image(data, q).name for q in questions}
    bad = {qid: name for qid, name in bad.items() if name in (missing.name, corrupt.name)}
    assert len(bad) == 4  # each image has two questions
    adapter = RecordingAdapter(tiny_adapter)

    results = run_evaluation(_config(data, tmp_path / "run", ("vqav2",), limit=10), adapter)
    entry = results["tasks"]["vqav2"]
    assert [f["sample_id"] for f in entry["failures"]] == list(bad)
    assert all(bad[f["sample_id"]] in f["error"] for f in entry["failures"])
    assert {k: entry["data"][k] for k in ("samples", "failed", "scored_samples")} == {
        "samples": 10, "failed": 4, "scored_samples": 6,
    }  # fmt: skip
    assert entry["timing"]["generated_samples"] == sum(map(len, adapter.calls)) == 6
    records = _records(tmp_path / "run" / "samples_vqav2.jsonl")
    good = [str(q["question_id"]) for q in questions if str(q["question_id"]) not in bad]
    assert [r["sample_id"] for r in records] == good

    # The same evaluation over the data without the failed samples scores the same.
    rest = tmp_path / "rest"
    shutil.copytree(mini_data / "vqav2", rest / "vqav2")
    for name, field in {
        "v2_OpenEnded_mscoco_val2014_questions.json": "questions",
        "v2_mscoco_val2014_annotations.json": "annotations",
    }.items():
        content = json.loads((rest / "vqav2" / name).read_text())
        content[field] = [x for x in content[field] if str(x["question_id"]) not in bad]
        (rest / "vqav2" / name).write_text(json.dumps(content))
    reference = run_evaluation(_config(rest, tmp_path / "ref", ("vqav2",), limit=6), tiny_adapter)
    assert entry["scores"] == reference["tasks"]["vqav2"]["scores"]
    assert [r["prediction"] for r in records] == [
        r["prediction"] for r in _records(tmp_path / "ref" / "samples_vqav2.jsonl")
    ]

    # Once the files are fixed, a re-run generates only the samples that failed.
    for path in (missing, corrupt):
        shutil.copy(mini_data / "vqav2" / "val2014" / path.name, path)
    adapter.calls.clear()
    again = run_evaluation(_config(data, tmp_path / "run", ("vqav2",), limit=10), adapter)
    records = _records(tmp_path / "run" / "samples_vqav2.jsonl")
    assert [r["sample_id"] for r in records] == [str(q["question_id"]) for q in questions]
    ids = {json.dumps(r["prompt"], sort_keys=True): r["sample_id"] for r in records}
    generated = [
        ids[json.dumps(prompt_to_json(i.prompt), sort_keys=True)] for c in adapter.calls for i in c
    ]
    assert sorted(generated) == sorted(bad)  # generated longest prompt first
    assert again["tasks"]["vqav2"]["failures"] == []
    assert again["tasks"]["vqav2"]["timing"]["reused_samples"] == 6


def test_a_task_whose_every_image_fails_has_no_scores_and_a_note(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(mini_data / "vqav2", data / "vqav2")
    questions = _vqav2_questions(data)[:2]
    assert questions[0]["image_id"] == questions[1]["image_id"]
    _vqav2_image(data, questions[0]).unlink()

    results = run_evaluation(_config(data, tmp_path / "run", ("vqav2",), limit=2), tiny_adapter)
    entry = results["tasks"]["vqav2"]
    assert entry["scores"]["metrics"] == {}
    assert entry["scores"]["notes"] == {"not scored": "all 2 samples failed (see failures)"}
    assert entry["data"]["failed"] == 2 and entry["data"]["scored_samples"] == 0
    assert _records(tmp_path / "run" / "samples_vqav2.jsonl") == []
    report = render_markdown([Run("run", tmp_path / "run", RunResults.from_json(results))])
    assert f"| run | {results['model']['pretrained']} | - |" in report
    assert "### run: vqav2, 2 of 2 samples failed" in report


def _tensors(index: int, requests: RequestsDecoded) -> dict[str, Any]:
    """A ``BatchPreparer`` for tests: tensors of several kinds, one too large for the slot."""
    generator = torch.Generator().manual_seed(index)
    pixels = torch.rand(len(requests), 3, 4, 5, generator=generator)
    return {
        "pixel_values": pixels.to(torch.bfloat16),
        "mask": pixels > 0.5,
        "input_ids": torch.arange(index * 10, index * 10 + 7).view(1, 7),
        "transposed": pixels[:, 0].transpose(1, 2),  # not contiguous
        "scalar": torch.tensor(float(index)),
        "large": torch.zeros(2_000_000),  # 8 MB: more than a slot (2 images and 2 requests)
        "sizes": [[image.size for image in r] for r in requests if isinstance(r, list)],
    }


def test_workers_send_the_prepared_tensors_in_shared_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("vlm_eval.runner._images._SHARED_BYTES_PER_PREPARED_REQUEST", 3000)
    unpacked = _unpacked(monkeypatch)
    images = [_png(tmp_path / f"{i}.png", (3 + i, 2)) for i in range(10)]
    batches = [[[images[0]], [images[1]]], [[images[2]]]]
    batches += [[[image]] for image in images[3:]]  # 9 batches through 8 slots
    held = list(decode_batches(batches, 2, _tensors))  # the 9th finds no free slot
    for index, batch in enumerate(held):
        expected = _tensors(index, batch.requests)
        assert batch.prepared.keys() == expected.keys()
        for key, value in expected.items():
            if isinstance(value, torch.Tensor):
                received = batch.prepared[key]
                assert received.dtype == value.dtype and torch.equal(received, value), key
            else:
                assert batch.prepared[key] == value
    slot_keys = ["pixel_values", "mask", "input_ids", "transposed", "scalar"]
    assert [[key for key, *_ in batch.tensors] for batch in unpacked] == [slot_keys] * 8
