"""Benchmark: the tiny Idefics2 checkpoint end to end on CPU, batched runner vs a batch-1 loop.

The demo's tiny random Idefics2 checkpoint (``vlm_eval.demo.tiny.idefics2``) answers the same
``--samples`` synthetic VQAv2 questions about 640x480 JPEGs (``bench.synthetic_images``):

- vlm-eval: ``run_evaluation`` at each of ``--batch-sizes`` (8 and 16), two decoding workers
  (the default): data loading, prompts, batched left-padded greedy generation, scoring, records.
- the loop a user would write first: for each question, open the image with PIL, render the
  chat template, run the processor, ``model.generate`` one sample at a time, decode.

Both load the model before the timing starts, take the task's prompt and generation settings
(greedy, 16 new tokens, stop at a newline: the loop passes ``stop_strings`` too, so that both
generate the same number of tokens) and post-process answers the same way. With random weights
left padding can change a few greedy tokens, so the benchmark reports the fraction of identical
predictions rather than requiring all. Each candidate runs ``--repeats`` times in turn; the
fastest run counts. Writes ``bench/results/tiny_model.json``.

    python -m bench.tiny_model [--samples 256] [--batch-sizes 8,16] [--repeats 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from bench._common import RESULTS_DIR, SummaryRow, environment, interleaved, write_result
from bench.synthetic_images import write_vqav2_split
from vlm_eval.data import ImageFile, Sample
from vlm_eval.demo.tiny import idefics2
from vlm_eval.models import HuggingFaceAdapter
from vlm_eval.runner import RunConfig, run_evaluation
from vlm_eval.tasks import VQATask, get_task, load_tasks

RESULTS = RESULTS_DIR / "tiny_model.json"
TARGET_SPEEDUP = 1.0
"""The batched runner must beat the batch-1 loop; how much depends on the cores."""


class _BatchOneLoop:
    """The plain loop: one sample at a time through the processor and ``model.generate``."""

    def __init__(self, checkpoint: Path, task: VQATask, samples: list[Sample]):
        self.processor = AutoProcessor.from_pretrained(checkpoint)
        self.model = AutoModelForImageTextToText.from_pretrained(checkpoint).eval()
        self.task, self.samples = task, samples

    def __call__(self) -> dict[str, str]:
        predictions = {}
        for sample in self.samples:
            assert isinstance(sample.image, ImageFile)
            image = Image.open(sample.image.path).convert("RGB")
            question = self.task.question_template.format(question=sample.question)
            messages = [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}
            ]
            text = self.processor.apply_chat_template(messages, add_generation_prompt=True)
            inputs = self.processor(text=text, images=[image], return_tensors="pt")
            with torch.inference_mode():
                output = self.model.generate(
                    **inputs,
                    max_new_tokens=self.task.generation.max_new_tokens,
                    do_sample=False,
                    stop_strings=list(self.task.generation.stop),
                    tokenizer=self.processor.tokenizer,
                )
            answer = self.processor.decode(
                output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True
            )
            predictions[sample.id] = self.task.postprocess(answer)
        return predictions


class _Runner:
    """``run_evaluation`` with a loaded adapter, each time into a new output folder."""

    def __init__(self, adapter: HuggingFaceAdapter, data_dir: Path, output_root: Path, batch: int):
        self.adapter, self.data_dir, self.output_root = adapter, data_dir, output_root
        self.batch = batch
        self._runs = itertools.count()

    def __call__(self) -> list[dict[str, Any]]:
        """The records of a run."""
        output = self.output_root / f"run-{next(self._runs)}"
        config = RunConfig(
            model="hf",
            model_args={"pretrained": self.adapter.pretrained},
            tasks=("vqav2",),
            data_dir=self.data_dir,
            output_dir=output,
            batch_size=self.batch,
        )
        results = run_evaluation(config, adapter=self.adapter)
        lines = (output / results["tasks"]["vqav2"]["samples_file"]).read_text().splitlines()
        return [json.loads(line) for line in lines]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--batch-sizes", default="8,16", help="comma-separated runner batch sizes")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    batch_sizes = [int(size) for size in args.batch_sizes.split(",")]
    load_tasks()
    task = get_task("vqav2")
    assert isinstance(task, VQATask)
    with tempfile.TemporaryDirectory(prefix="vlm-eval-bench-") as name:
        folder = Path(name)
        write_vqav2_split(folder / "data", args.samples, seed=args.seed)
        checkpoint = idefics2.build(folder / "tiny-idefics2")
        samples = task.load(folder / "data" / "vqav2", task.eval_split)
        adapter = HuggingFaceAdapter(pretrained=str(checkpoint), device="cpu", dtype="float32")
        candidates: dict[str, Callable[[], Any]] = {
            "batch_1_loop": _BatchOneLoop(checkpoint, task, samples)  # loads before timing
        }
        for size in batch_sizes:
            runs = folder / f"runs-{size}"
            candidates[f"vlm_eval_batch_{size}"] = _Runner(adapter, folder / "data", runs, size)
        timings = interleaved(args.repeats, candidates)
    loop = timings.pop("batch_1_loop")
    loop_rate = args.samples / loop.seconds
    comparisons = {}
    for candidate, timing in timings.items():
        records = timing.result
        ours = {record["sample_id"]: record["prediction"] for record in records}
        same = sum(ours.get(sample_id) == answer for sample_id, answer in loop.result.items())
        rate = args.samples / timing.seconds
        comparisons[candidate] = {
            "seconds": round(timing.seconds, 3),
            "all_runs_seconds": [round(run, 3) for run in timing.runs],
            "samples_per_second": round(rate, 2),
            "speedup": round(rate / loop_rate, 2),
            "identical_predictions": round(same / len(loop.result), 3),
            "all_samples_evaluated": set(ours) == set(loop.result),
            "generated_tokens_mean": sum(r["generated_tokens"] for r in records) / len(records),
        }
    passed = all(
        c["all_samples_evaluated"] and c["speedup"] >= TARGET_SPEEDUP for c in comparisons.values()
    )
    result = {
        "benchmark": "tiny_model",
        **environment(),
        "settings": {
            "checkpoint": "vlm_eval.demo.tiny.idefics2 (random weights, float32, CPU)",
            "samples": args.samples,
            "images": "640x480 JPEG, one question each",
            "num_workers": RunConfig.num_workers,
            "torch_threads": torch.get_num_threads(),
            "max_new_tokens": task.generation.max_new_tokens,
            "stop": list(task.generation.stop),
            "repeats": args.repeats,
            "seed": args.seed,
        },
        "batch_1_loop": {
            "seconds": round(loop.seconds, 3),
            "all_runs_seconds": [round(run, 3) for run in loop.runs],
            "samples_per_second": round(loop_rate, 2),
        },
        "vlm_eval": comparisons,
        "target_speedup": TARGET_SPEEDUP,
        "passed": passed,
    }
    summary = [
        SummaryRow(
            measure=f"tiny Idefics2 on CPU, {args.samples} VQAv2-style samples: runner at batch "
            f"{candidate.rsplit('_', 1)[1]} vs a batch-1 loop "
            f"({c['identical_predictions']:.0%} identical predictions)",
            baseline=f"{loop_rate:.1f} samples/s",
            vlm_eval=f"{c['samples_per_second']:.1f} samples/s",
            ratio=c["speedup"],
            target=TARGET_SPEEDUP,
            passed=c["all_samples_evaluated"] and c["speedup"] >= TARGET_SPEEDUP,
        )
        for candidate, c in comparisons.items()
    ]
    write_result(args.output, result, summary)
    print(f"Tiny Idefics2, {args.samples} samples on CPU: batch-1 loop {loop_rate:.1f} samples/s")
    for candidate, c in comparisons.items():
        print(
            f"  {candidate}: {c['samples_per_second']:.1f} samples/s ({c['speedup']:.2f}x), "
            f"identical predictions {c['identical_predictions']:.0%}"
        )
    print(f"-> {args.output}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
