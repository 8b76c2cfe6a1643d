"""The processes ``bench.scale`` starts and times, one per run, each in a fresh interpreter:

    python -m bench._scale_child {harness,plain,load} REPORT DATA_DIR RUN_DIR [--num-workers W]
    python -m bench._scale_child cli REPORT VLM_EVAL_ARGUMENTS...

Each mode imports what it uses inside its function, so that the process pays the start-up a
user's script of its kind pays, and writes a JSON report to REPORT: its peak RSS (``VmHWM``:
``ru_maxrss`` would also count the peak of the process that started it, as Linux keeps the
high-water mark of the memory a ``vfork`` child shares until ``exec``) and what it measures.

- ``harness``: ``run_evaluation`` of ``vqav2`` with the null adapter (batch 64, W decoding
  workers) into RUN_DIR (a finished RUN_DIR: a resume); when ``generate`` was first called
  (``time.time()``), the results' timing, the workers' peak RSS.
- ``plain``: the plain loop: ``json.load`` the two files (timed), open each image once as RGB,
  a null model in batches of 64, official VQA accuracy (``vlm_eval.metrics``), one predictions
  file in RUN_DIR.
- ``load``: the imports of ``harness`` and the samples loaded as the runner loads them, nothing
  else: the memory baseline of ``harness``.
- ``cli``: ``vlm-eval`` with the arguments given, as its console script runs it.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from PIL import Image

BATCH_SIZE = 64
QUESTIONS_FILE = "v2_OpenEnded_mscoco_val2014_questions.json"
ANNOTATIONS_FILE = "v2_mscoco_val2014_annotations.json"


def _peak_rss_kib() -> int:
    """The peak RSS (KiB) of this process since it started its program."""
    status = Path("/proc/self/status").read_text(encoding="utf-8")
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])


def _harness(data_dir: Path, run_dir: Path, workers: int) -> dict[str, Any]:
    from bench.harness_overhead import NullAdapter
    from vlm_eval.models import Generation, ModelInput
    from vlm_eval.runner import RunConfig, run_evaluation
    from vlm_eval.tasks import GenerationSettings, load_tasks

    class TimedNullAdapter(NullAdapter):
        """The null adapter, noting when ``generate`` is first called."""

        first_call: float | None = None

        def generate(
            self, inputs: Sequence[ModelInput], settings: GenerationSettings
        ) -> list[Generation]:
            if self.first_call is None:
                self.first_call = time.time()
            return super().generate(inputs, settings)

    load_tasks()
    adapter = TimedNullAdapter()
    config = RunConfig(
        model=adapter.name,
        model_args={},
        tasks=("vqav2",),
        data_dir=data_dir,
        output_dir=run_dir,
        batch_size=BATCH_SIZE,
        num_workers=workers,
    )
    task = run_evaluation(config, adapter=adapter)["tasks"]["vqav2"]
    return {
        "first_generate_time": adapter.first_call,
        "images_received": adapter.images,
        "data": task["data"],
        "accuracy": task["scores"]["metrics"]["accuracy"],
        "timing": task["timing"],
        "peak_rss_kib": _peak_rss_kib(),
        "workers_peak_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }


def _null_model(images: Sequence[Image.Image]) -> list[str]:
    return ["yes"] * len(images)


def _plain(data_dir: Path, run_dir: Path) -> dict[str, Any]:
    from PIL import Image

    from vlm_eval.metrics import vqa_accuracy

    folder = data_dir / "vqav2"
    started = time.perf_counter()
    with open(folder / QUESTIONS_FILE, encoding="utf-8") as file:
        questions = json.load(file)["questions"]
    with open(folder / ANNOTATIONS_FILE, encoding="utf-8") as file:
        annotations = json.load(file)["annotations"]
    load_seconds = time.perf_counter() - started
    answers = {a["question_id"]: [answer["answer"] for answer in a["answers"]] for a in annotations}
    predictions: list[dict[str, Any]] = []
    image_id, image = None, None
    for start in range(0, len(questions), BATCH_SIZE):
        batch = questions[start : start + BATCH_SIZE]
        images = []
        for question in batch:
            if question["image_id"] != image_id:  # questions on one image come together
                image_id = question["image_id"]
                with Image.open(folder / "val2014" / f"COCO_val2014_{image_id:012d}.jpg") as file:
                    image = file.convert("RGB")
            images.append(image)
        for question, answer in zip(batch, _null_model(images), strict=True):
            predictions.append({"question_id": question["question_id"], "answer": answer})
    scores = [vqa_accuracy(p["answer"], answers[p["question_id"]]) for p in predictions]
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "predictions.json").write_text(json.dumps(predictions), encoding="utf-8")
    return {
        "json_load_seconds": load_seconds,
        "samples": len(predictions),
        "accuracy": 100 * sum(scores) / len(scores),
        "peak_rss_kib": _peak_rss_kib(),
    }


def _load(data_dir: Path) -> dict[str, Any]:
    from bench.harness_overhead import NullAdapter  # noqa: F401  (the harness's imports)
    from vlm_eval.runner import run_evaluation  # noqa: F401
    from vlm_eval.tasks import get_task, load_tasks, resolve_task_data

    load_tasks()
    task = get_task("vqav2")
    data = resolve_task_data(task, data_dir, {}, fewshot=False)
    samples = data.load(task, data.split)
    return {"samples": len(samples), "peak_rss_kib": _peak_rss_kib()}


def _cli(arguments: list[str]) -> dict[str, Any]:
    from vlm_eval.cli import main

    try:
        main(arguments, prog_name="vlm-eval")
    except SystemExit as exit_:
        if exit_.code:
            raise
    return {"peak_rss_kib": _peak_rss_kib()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    for mode in ("harness", "plain", "load"):
        run = modes.add_parser(mode)
        run.add_argument("report", type=Path)
        run.add_argument("data_dir", type=Path)
        run.add_argument("run_dir", type=Path)
        run.add_argument("--num-workers", type=int, default=0)
    cli = modes.add_parser("cli")
    cli.add_argument("report", type=Path)
    cli.add_argument("arguments", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.mode == "cli":
        report = _cli(args.arguments)
    elif args.mode == "harness":
        report = _harness(args.data_dir, args.run_dir, args.num_workers)
    elif args.mode == "plain":
        report = _plain(args.data_dir, args.run_dir)
    else:
        report = _load(args.data_dir)
    args.report.write_text(json.dumps(report), encoding="utf-8")


if __name__ == "__main__":
    main()
