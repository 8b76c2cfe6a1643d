"""Benchmark: the whole harness with a model that answers instantly, against raw image decoding.

A synthetic VQAv2 val2014 split (``--samples`` questions, one per 640x480 JPEG by default, about
150 KB each; ``bench.synthetic_images``) is evaluated by ``run_evaluation`` with a null adapter
that returns a constant answer as soon as it gets a batch of decoded images. What remains is the
harness: reading and validating the official files, prompts, request keys, batching, decoding
each image in W DataLoader worker processes and handing its pixels to the main process,
post-processing, VQA scoring, appending fsynced records, and ``results.json``.

The baseline is the physical limit of this data path: the same images decoded with PIL
(``Image.open(path)``, loaded, converted only if not RGB: ``convert`` would copy RGB pixels, which
``ImageSource.open`` does not) in a pool of W processes, nothing else, nothing sent back, with
Pillow's and glibc's default memory settings, as the runner has them.
The harness also has its main process (everything but decoding), which the baseline does not;
the >= 0.8x target applies to every W:

- With W below the number of cores, the main process has a core of its own, as it has on a GPU
  server, and the ratio measures how much the harness slows the decoding workers down (moving
  pixels) and whether the main process keeps up.
- With W at least the number of cores (2 on the 2-core development machine), the main process
  shares the decoding cores, and all its work counts against the ratio.

``--num-workers`` lists the W to measure (default ``1,2``). Each candidate runs ``--repeats``
times in turn and the fastest run counts. Where the time goes: the CPU time per image of the
main process and of the workers (last run), and the functions of the main process that take the
most time in one more harness run under ``cProfile`` (first W; ``poll`` is waiting for the
workers). Writes ``bench/results/harness_overhead.json``.

    python -m bench.harness_overhead [--samples 3000] [--num-workers 1,2] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import os
import pstats
import resource
import sys
import tempfile
from collections.abc import Callable, Sequence
from multiprocessing import Pool
from pathlib import Path
from typing import Any

from PIL import Image

from bench._common import RESULTS_DIR, SummaryRow, environment, interleaved, write_result
from bench.synthetic_images import write_vqav2_split
from vlm_eval.models import Generation, ModelAdapter, ModelInput
from vlm_eval.runner import RunConfig, run_evaluation
from vlm_eval.tasks import GenerationSettings, load_tasks

RESULTS = RESULTS_DIR / "harness_overhead.json"
TARGET_RATIO = 0.8
_PROFILE_TOP = 15


class NullAdapter(ModelAdapter):
    """Answers every input with ``"yes"`` at once; counts the decoded images it receives."""

    name = "null"

    def __init__(self) -> None:
        self.images = 0

    def generate(
        self, inputs: Sequence[ModelInput], settings: GenerationSettings
    ) -> list[Generation]:
        for item in inputs:
            if not all(isinstance(image, Image.Image) for image in item.images):
                raise TypeError("the null adapter expects decoded PIL images")
            self.images += len(item.images)
        return [Generation("yes", prompt_tokens=1, generated_tokens=1) for _ in inputs]

    def describe(self) -> dict[str, Any]:
        return {"adapter": self.name}


def _decode(path: Path) -> None:
    with Image.open(path) as image:
        image.load()
        if image.mode != "RGB":
            image.convert("RGB")


def _raw_decoding(paths: list[Path], processes: int) -> None:
    with Pool(processes) as pool:
        for _ in pool.imap_unordered(_decode, paths, chunksize=32):
            pass


class _Harness:
    """Runs the whole pipeline with the null adapter, each time into a new output folder;
    returns the results and the number of images the adapter received."""

    def __init__(self, data_dir: Path, output_root: Path, workers: int, batch_size: int):
        self.data_dir, self.output_root = data_dir, output_root
        self.workers, self.batch_size = workers, batch_size
        self._runs = itertools.count()

    def __call__(self) -> tuple[dict[str, Any], int]:
        adapter = NullAdapter()
        config = RunConfig(
            model=adapter.name,
            model_args={},
            tasks=("vqav2",),
            data_dir=self.data_dir,
            output_dir=self.output_root / f"run-{next(self._runs)}",
            batch_size=self.batch_size,
            num_workers=self.workers,
        )
        return run_evaluation(config, adapter=adapter), adapter.images


def _with_cpu_time(function: Callable[[], Any]) -> Callable[[], tuple[Any, dict[str, float]]]:
    """``function``, returning also the CPU seconds used by this process (``main``) and by the
    processes it started and joined (``workers``): less disturbed by other work than wall time."""

    def timed() -> tuple[Any, dict[str, float]]:
        who = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        before = [resource.getrusage(w) for w in who]
        result = function()
        after = [resource.getrusage(w) for w in who]
        main, workers = (
            end.ru_utime + end.ru_stime - start.ru_utime - start.ru_stime
            for start, end in zip(before, after, strict=True)
        )
        return result, {"main": main, "workers": workers}

    return timed


def _profile(harness: _Harness) -> list[dict[str, Any]]:
    """The main process's functions that take the most time of a harness run (own time)."""
    profiler = cProfile.Profile()
    profiler.runcall(harness)
    entries = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = sorted(entries.items(), key=lambda item: -item[1][2])[:_PROFILE_TOP]
    return [
        {
            "function": f"{Path(file).name}:{line}({name})",
            "calls": calls,
            "own_seconds": round(own, 3),
            "cumulative_seconds": round(cumulative, 3),
        }
        for (file, line, name), (_, calls, own, cumulative, _) in rows
    ]


def _measure(
    workers: int, paths: list[Path], harness: _Harness, samples: int, repeats: int
) -> dict[str, Any]:
    """Raw decoding and the harness with ``workers`` processes: times, rates, CPU, ratio."""
    timings = interleaved(
        repeats,
        {
            "raw_decoding": _with_cpu_time(lambda: _raw_decoding(paths, workers)),
            "harness": _with_cpu_time(harness),
        },
    )
    (results, images_received), _ = timings["harness"].result
    data = results["tasks"]["vqav2"]["data"]
    complete = data["samples"] == samples and not data["failed"] and images_received == len(paths)
    ratio = timings["raw_decoding"].seconds / timings["harness"].seconds
    return {
        "num_workers": workers,
        "main_process_has_a_core": workers < (os.cpu_count() or 1),
        "seconds": {name: round(timing.seconds, 3) for name, timing in timings.items()},
        "all_runs_seconds": {
            name: [round(run, 3) for run in timing.runs] for name, timing in timings.items()
        },
        "images_per_second": {
            name: round(len(paths) / timing.seconds, 1) for name, timing in timings.items()
        },
        "harness_samples_per_second": round(samples / timings["harness"].seconds, 1),
        "cpu_ms_per_image_last_run": {
            name: {
                where: round(1000 * seconds / len(paths), 3)
                for where, seconds in timing.result[1].items()
            }
            for name, timing in timings.items()
        },
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "all_samples_evaluated": complete,
        "passed": complete and ratio >= TARGET_RATIO,
        "runner_timing": results["tasks"]["vqav2"]["timing"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--questions-per-image", type=int, default=1)
    parser.add_argument("--num-workers", default="1,2", help="comma-separated W to measure")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    worker_counts = [int(w) for w in args.num_workers.split(",")]
    if min(worker_counts) < 1:
        parser.error("--num-workers: the baseline needs at least one process")
    load_tasks()
    with tempfile.TemporaryDirectory(prefix="vlm-eval-bench-") as folder:
        data_dir = Path(folder) / "data"
        paths = write_vqav2_split(
            data_dir,
            args.samples,
            questions_per_image=args.questions_per_image,
            seed=args.seed,
            processes=max(worker_counts),
        )
        image_bytes = sum(path.stat().st_size for path in paths)
        harnesses = {
            w: _Harness(data_dir, Path(folder) / f"runs-{w}", w, args.batch_size)
            for w in worker_counts
        }
        configurations = [
            _measure(w, paths, harnesses[w], args.samples, args.repeats) for w in worker_counts
        ]
        profile = _profile(harnesses[worker_counts[0]])
    result = {
        "benchmark": "harness_overhead",
        **environment(),
        "settings": {
            "samples": args.samples,
            "images": len(paths),
            "image_size": "640x480 JPEG, quality 90",
            "mean_image_kb": round(image_bytes / len(paths) / 1000, 1),
            "batch_size": args.batch_size,
            "repeats": args.repeats,
            "seed": args.seed,
        },
        "configurations": configurations,
        "target_ratio": TARGET_RATIO,
        "passed": all(c["passed"] for c in configurations),
        f"main_process_profile_num_workers_{worker_counts[0]}": profile,
    }
    summary = []
    for c in configurations:
        rates = c["images_per_second"]
        place = "own core for the main process" if c["main_process_has_a_core"] else "shared"
        summary.append(
            SummaryRow(
                measure=f"harness (null model) vs raw PIL decoding of {len(paths):,} 640x480 "
                f"JPEGs, {c['num_workers']} decoding process(es), {place}",
                baseline=f"{rates['raw_decoding']:,.0f} img/s",
                vlm_eval=f"{rates['harness']:,.0f} img/s",
                ratio=round(c["ratio"], 2),
                target=c["target_ratio"],
                passed=c["passed"],
            )
        )
        print(
            f"Harness overhead, {args.samples:,} samples, {c['num_workers']} worker(s) ({place}):"
            f" raw decoding {rates['raw_decoding']:,.0f} img/s, harness {rates['harness']:,.0f}"
            f" img/s ({c['harness_samples_per_second']:,.0f} samples/s): {c['ratio']:.2f}x"
            f" (target >= {TARGET_RATIO})"
        )
    write_result(args.output, result, summary)
    print(f"-> {args.output}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
