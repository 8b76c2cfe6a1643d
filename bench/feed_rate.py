"""Benchmark: how fast the runner feeds a model that answers at once, with a real processor.

What a GPU run's host side must keep up with: decoding each image and running the model's
processor (chat template, tokenization, images rescaled and normalised into tensors) before
generation. The tiny Idefics2 checkpoint, its processor at Idefics2's own image sizes (980 px
longest edge, 378 shortest, no image splitting: 640x480 images are kept at 640x480, about 8 ms
of processor work each), answers ``--samples`` synthetic VQAv2 questions about 640x480 JPEGs
in batches of 32 through an adapter whose ``generate_prepared`` answers at once. For each W of
``--num-workers``:

- raw: a pool of W processes, each decoding a batch's images and running the adapter's
  ``prepare`` on them, nothing sent back: what W processes can do.
- runner, processor on a thread: W decoding workers, the main process prepares each batch
  while the previous one generates (``prepares_ahead``: the default on an accelerator).
- runner, processor in the workers: ``--prepare-in-workers``, the W decoding workers prepare
  the batches they decode and send the tensors.

Each candidate runs ``--repeats`` times in turn and the fastest run counts. Reported:
samples/s and each runner's ratio to raw; no target (with the processor on a thread the runner
has one more busy process than raw). Writes ``bench/results/feed_rate.json``.

    python -m bench.feed_rate [--samples 1024] [--num-workers 1,2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from multiprocessing import Pool
from pathlib import Path
from typing import Any

from transformers import AutoProcessor, BatchFeature

from bench._common import RESULTS_DIR, SummaryRow, environment, interleaved, write_result
from bench.synthetic_images import write_vqav2_split
from vlm_eval.demo.tiny import idefics2
from vlm_eval.models import Generation, HuggingFaceAdapter, ModelInput
from vlm_eval.runner import RunConfig, run_evaluation
from vlm_eval.tasks import GenerationSettings, Prompt, get_task, load_tasks, prompt_images

RESULTS = RESULTS_DIR / "feed_rate.json"
BATCH_SIZE = 32
IMAGE_SIZE = {"longest_edge": 980, "shortest_edge": 378}


class InstantAdapter(HuggingFaceAdapter):
    """The ``hf`` adapter, preparing ahead as on an accelerator, whose model answers at once."""

    @property
    def prepares_ahead(self) -> bool:
        return True

    def generate_prepared(
        self, prepared: BatchFeature, settings: GenerationSettings
    ) -> list[Generation]:
        return [Generation("yes", generated_tokens=1) for _ in prepared["input_ids"]]


_RAW: tuple[InstantAdapter, list[Prompt]] | None = None
"""The adapter and the prompts of the raw pool, inherited by its forked processes."""


def _raw_batch(first: int) -> None:
    assert _RAW is not None
    adapter, prompts = _RAW
    batch = prompts[first : first + BATCH_SIZE]
    adapter.prepare([ModelInput(p, [image.open() for image in prompt_images(p)]) for p in batch])


def _raw(adapter: InstantAdapter, prompts: list[Prompt], processes: int) -> int:
    global _RAW
    _RAW = (adapter, prompts)
    with Pool(processes) as pool:
        for _ in pool.imap_unordered(_raw_batch, range(0, len(prompts), BATCH_SIZE)):
            pass
    return len(prompts)


class _Runner:
    """``run_evaluation`` of the vqav2 task with the instant adapter, into a new folder each
    time; returns the samples evaluated."""

    def __init__(self, adapter: InstantAdapter, config: RunConfig):
        self.adapter, self.config = adapter, config
        self._runs = itertools.count()

    def __call__(self) -> int:
        output = self.config.output_dir / f"run-{next(self._runs)}"
        results = run_evaluation(replace(self.config, output_dir=output), self.adapter)
        task = results["tasks"]["vqav2"]
        assert not task["data"]["failed"] and not task["timing"]["reused_samples"]
        return int(task["timing"]["generated_samples"])


def _checkpoint(folder: Path) -> Path:
    """The tiny Idefics2 checkpoint with its processor at Idefics2's image sizes."""
    checkpoint = idefics2.build(folder)
    processor = AutoProcessor.from_pretrained(checkpoint)
    processor.image_processor.size = dict(IMAGE_SIZE)
    processor.save_pretrained(checkpoint)
    return checkpoint


def _measure(
    workers: int, adapter: InstantAdapter, prompts: list[Prompt], base: RunConfig, repeats: int
) -> dict[str, Any]:
    config = replace(base, num_workers=workers)
    on_thread = replace(config, output_dir=base.output_dir / f"w{workers}-thread")
    in_workers = replace(
        config, output_dir=base.output_dir / f"w{workers}-workers", prepare_in_workers=True
    )
    candidates = {
        "raw": lambda: _raw(adapter, prompts, workers),
        "runner_prepare_on_thread": _Runner(adapter, on_thread),
        "runner_prepare_in_workers": _Runner(adapter, in_workers),
    }
    timings = interleaved(repeats, candidates)
    rates = {name: timing.result / timing.seconds for name, timing in timings.items()}
    return {
        "num_workers": workers,
        "seconds": {name: round(timing.seconds, 3) for name, timing in timings.items()},
        "all_runs_seconds": {
            name: [round(run, 3) for run in timing.runs] for name, timing in timings.items()
        },
        "samples_per_second": {name: round(rate, 1) for name, rate in rates.items()},
        "ratio_to_raw": {
            name: round(rate / rates["raw"], 3) for name, rate in rates.items() if name != "raw"
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--num-workers", default="1,2", help="comma-separated W to measure")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    worker_counts = [int(w) for w in args.num_workers.split(",")]
    if min(worker_counts) < 1:
        parser.error("--num-workers: the workers prepare, so at least 1")
    load_tasks()
    task = get_task("vqav2")
    with tempfile.TemporaryDirectory(prefix="vlm-eval-bench-") as name:
        folder = Path(name)
        write_vqav2_split(folder / "data", args.samples, processes=max(worker_counts))
        samples = task.load(folder / "data" / "vqav2", task.eval_split)
        prompts = [task.prompt(sample, []) for sample in samples]
        checkpoint = _checkpoint(folder / "tiny")
        adapter = InstantAdapter(pretrained=str(checkpoint), device="cpu", dtype="float32")
        base = RunConfig(
            model="hf",
            model_args={"pretrained": str(checkpoint)},
            tasks=("vqav2",),
            data_dir=folder / "data",
            output_dir=folder / "runs",
            batch_size=BATCH_SIZE,
        )
        configurations = [_measure(w, adapter, prompts, base, args.repeats) for w in worker_counts]
    result = {
        "benchmark": "feed_rate",
        **environment(),
        "settings": {
            "samples": args.samples,
            "image_size": "640x480 JPEG, quality 90",
            "processor_image_size": IMAGE_SIZE,
            "batch_size": BATCH_SIZE,
            "repeats": args.repeats,
        },
        "configurations": configurations,
    }
    summary = []
    for c in configurations:
        rates, w = c["samples_per_second"], c["num_workers"]
        for name, label in (
            ("runner_prepare_on_thread", "processor on a thread"),
            ("runner_prepare_in_workers", "processor in the workers"),
        ):
            summary.append(
                SummaryRow(
                    measure=f"feeding an instant model through the Idefics2 processor, "
                    f"{args.samples} samples: runner ({w} worker(s), {label}) vs raw decoding + "
                    f"processor in {w} process(es)",
                    baseline=f"{rates['raw']:.0f} samples/s",
                    vlm_eval=f"{rates[name]:.0f} samples/s",
                    ratio=round(c["ratio_to_raw"][name], 2),
                    target=None,
                    passed=True,
                )
            )
        print(f"W={w}: " + ", ".join(f"{n} {r:.0f} samples/s" for n, r in rates.items()))
    write_result(args.output, result, summary)
    print(f"-> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
