"""Benchmark for GPU sessions: runner throughput vs a bare ``model.generate`` loop and vs batch 1.

Two Idefics2-architecture checkpoints with random weights, built from configs (nothing is
downloaded) and loaded by the ``hf`` adapter in ``--dtype`` (``auto``: bfloat16 on CUDA):

- ``tiny``: the demo checkpoint (``vlm_eval.demo.tiny.idefics2``), a few M parameters.
- ``mid``: SmolVLM-256M-like sizes (a SigLIP-base vision tower, 12 x 768, on 384 px images; a
  30-layer 576-wide text model; a 3-layer perceiver: 64 visual tokens per image), about 200 M
  parameters; the demo tokenizer's vocabulary instead of 49k tokens.

On ``--samples`` synthetic VQAv2 questions about 640x480 JPEGs (``bench.synthetic_images``):

- runner, batch 32: ``run_evaluation`` (two decoding workers, the default) with a loaded
  adapter. Its samples/s is the task's steady state (the task's wall time in the results:
  decoding, processor, generation, records, scoring); the whole call, with data loading and the
  weights' SHA-256, is reported too.
- bare loop, batch 32: the same model's ``generate`` (the adapter's arguments) over inputs the
  processor prepared and moved to the device before the timing starts. Target: runner >= 0.95x.
  Both do the same work: the share of samples whose answers are the same is reported (the
  batches are the same, so on one device it should be all of them).
- runner, batch 32, ``prepare_in_workers`` with ``--prepare-workers`` decoding workers (8):
  the processor runs in the workers instead of a thread of the main process. The target
  applies to the faster of the two runners (the other says whether to change the default).
- runner, batch 1, on ``--batch-1-samples`` of the questions. Target: the faster runner at
  batch 32 >= 5x batch 1.

GPU utilisation is sampled every 0.1 s during each timed run (``torch.cuda.utilization``, which
needs ``pynvml``, else ``nvidia-smi``). A warm-up generate call precedes the timings. The targets
apply on CUDA; ``--device cpu --sizes tiny`` is a smoke test. Writes ``bench/results/gpu.json``.

    python -m bench.gpu [--device cuda] [--sizes tiny,mid] [--samples 1024] [--dtype auto]
                        [--prepare-workers 8]

Exits 2 if CUDA is asked for but absent, 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoProcessor,
    BatchFeature,
    GenerationConfig,
    Idefics2Config,
    Idefics2ForConditionalGeneration,
)

from bench._common import RESULTS_DIR, SummaryRow, environment, interleaved, write_result
from bench.synthetic_images import write_vqav2_split
from vlm_eval.data import Sample
from vlm_eval.demo.tiny import idefics2
from vlm_eval.models import HuggingFaceAdapter, ModelInput
from vlm_eval.runner import RunConfig, run_evaluation
from vlm_eval.tasks import Task, get_task, load_tasks, prompt_images

RESULTS = RESULTS_DIR / "gpu.json"
BATCH_SIZE = 32
TARGET_VS_BARE = 0.95
TARGET_VS_BATCH_1 = 5.0
_SAMPLING_SECONDS = 0.1


def _mid_idefics2(tiny: Path, output: Path) -> Path:
    """An Idefics2 checkpoint of SmolVLM-256M-like sizes around the tiny checkpoint's
    processor, its images resized to at most 384 px."""
    processor = AutoProcessor.from_pretrained(tiny)
    processor.image_processor.size = {"longest_edge": 384, "shortest_edge": 192}
    config = Idefics2Config.from_pretrained(tiny)
    vision = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12}
    vision |= {"num_attention_heads": 12, "image_size": 384, "patch_size": 16}
    text = {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30}
    text |= {"num_attention_heads": 9, "num_key_value_heads": 3, "head_dim": 64}
    perceiver = {"hidden_size": 576, "resampler_depth": 3, "resampler_n_heads": 9}
    perceiver |= {"resampler_head_dim": 64, "num_key_value_heads": 3}
    for part, sizes in (
        (config.vision_config, vision),
        (config.text_config, text),
        (config.perceiver_config, perceiver),
    ):
        for name, value in sizes.items():
            setattr(part, name, value)
        part.initializer_range = 0.02
    torch.manual_seed(0)
    model = Idefics2ForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig.from_pretrained(tiny)
    model.save_pretrained(output)
    processor.save_pretrained(output)
    return output


def _utilization_reader(device: torch.device) -> tuple[str, Callable[[], float]] | None:
    """How to read ``device``'s utilisation (%): its name and a function; ``None`` if no way."""
    if device.type != "cuda":
        return None
    try:
        torch.cuda.utilization(device)
        return "torch.cuda.utilization", lambda: float(torch.cuda.utilization(device))
    except Exception:  # pynvml missing, or NVML failing: try nvidia-smi
        pass
    if shutil.which("nvidia-smi") is None:
        return None
    command = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
    command += ["-i", str(device.index or 0)]
    return "nvidia-smi", lambda: float(subprocess.run(command, capture_output=True).stdout)


class _Utilization:
    """GPU utilisation (%) sampled in a background thread while in the ``with`` block."""

    def __init__(self, device: torch.device):
        self.reader = _utilization_reader(device)
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        assert self.reader is not None
        while not self._stop.wait(_SAMPLING_SECONDS):
            self.samples.append(self.reader[1]())

    def __enter__(self) -> _Utilization:
        if self.reader is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def describe(self) -> dict[str, Any] | None:
        """Mean and median of the samples, their number and how they were read."""
        if self.reader is None or not self.samples:
            return None
        return {
            "mean_percent": round(statistics.fmean(self.samples), 1),
            "median_percent": statistics.median(self.samples),
            "samples": len(self.samples),
            "method": self.reader[0],
        }


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _BareLoop:
    """``model.generate`` over batches the processor prepared beforehand, as the adapter calls
    it (greedy, the task's new tokens and stop strings, its padding id)."""

    def __init__(self, adapter: HuggingFaceAdapter, task: Task, samples: list[Sample]):
        self.adapter, self.task = adapter, task
        self.sample_ids = [sample.id for sample in samples]
        self.batches: list[BatchFeature] = []
        for first in range(0, len(samples), BATCH_SIZE):
            prompts = [task.prompt(sample, []) for sample in samples[first : first + BATCH_SIZE]]
            inputs = [
                ModelInput(prompt, [image.open() for image in prompt_images(prompt)])
                for prompt in prompts
            ]
            self.batches.append(adapter.prepare(inputs).to(adapter.device))

    def generate(self, batch: BatchFeature) -> torch.Tensor:
        stop = list(self.task.generation.stop)
        with torch.inference_mode():
            return self.adapter.model.generate(
                **batch,
                max_new_tokens=self.task.generation.max_new_tokens,
                do_sample=False,
                num_beams=1,
                stop_strings=stop or None,
                tokenizer=self.adapter.tokenizer if stop else None,
                pad_token_id=self.adapter.pad_token_id,
            )

    def __call__(self) -> int:
        for batch in self.batches:
            self.generate(batch)
        _synchronize(self.adapter.device)
        return sum(len(batch["input_ids"]) for batch in self.batches)

    def answers(self) -> dict[str, str]:
        """Sample id -> the decoded answer, from one more (untimed) pass."""
        texts = []
        for batch in self.batches:
            new_tokens = self.generate(batch)[:, batch["input_ids"].shape[1] :]
            texts += self.adapter.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return dict(zip(self.sample_ids, texts, strict=True))


class _Runner:
    """``run_evaluation`` with a loaded adapter at one batch size, into a new folder each time;
    returns the vqav2 task's results."""

    def __init__(
        self,
        adapter: HuggingFaceAdapter,
        data_dir: Path,
        output: Path,
        batch: int,
        limit: int | None,
        prepare_workers: int | None = None,
    ):
        self.adapter, self.data_dir, self.output = adapter, data_dir, output
        self.batch, self.limit, self.prepare_workers = batch, limit, prepare_workers
        self._runs = itertools.count()
        self.last_output: Path | None = None

    def answers(self) -> dict[str, str]:
        """Sample id -> the raw answer, from the records of the last run."""
        assert self.last_output is not None, "no run yet"
        with (self.last_output / "samples_vqav2.jsonl").open(encoding="utf-8") as lines:
            records = [json.loads(line) for line in lines]
        return {record["sample_id"]: record["raw_output"] for record in records}

    def __call__(self) -> dict[str, Any]:
        self.last_output = self.output / f"run-{next(self._runs)}"
        config = RunConfig(
            model="hf",
            model_args={"pretrained": self.adapter.pretrained},
            tasks=("vqav2",),
            data_dir=self.data_dir,
            output_dir=self.last_output,
            batch_size=self.batch,
            limit=self.limit,
        )
        if self.prepare_workers is not None:
            config = replace(config, num_workers=self.prepare_workers, prepare_in_workers=True)
        results = run_evaluation(config, adapter=self.adapter)
        _synchronize(self.adapter.device)
        return results["tasks"]["vqav2"]


def _with_utilization(device: torch.device, function: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> tuple[Any, dict[str, Any] | None]:
        with _Utilization(device) as utilization:
            result = function()
        return result, utilization.describe()

    return run


def _benchmark_size(
    checkpoint: Path,
    data_dir: Path,
    runs: Path,
    args: argparse.Namespace,
    samples: list[Sample],
    task: Task,
) -> dict[str, Any]:
    """The timings of one checkpoint, with rates, ratios and utilisation; the runner reads
    ``data_dir`` and writes into ``runs``."""
    adapter = HuggingFaceAdapter(pretrained=str(checkpoint), device=args.device, dtype=args.dtype)
    bare = _BareLoop(adapter, task, samples)
    bare.generate(bare.batches[0])  # warm-up: kernels, allocator
    _synchronize(adapter.device)
    runners = {
        "runner_batch_32": _Runner(adapter, data_dir, runs / "batch-32", BATCH_SIZE, None),
        "runner_batch_32_prepare_in_workers": _Runner(
            adapter, data_dir, runs / "batch-32-workers", BATCH_SIZE, None, args.prepare_workers
        ),
    }
    candidates = {
        "bare_generate_batch_32": bare,
        **runners,
        "runner_batch_1": _Runner(adapter, data_dir, runs / "batch-1", 1, args.batch_1_samples),
    }
    timings = interleaved(
        args.repeats,
        {name: _with_utilization(adapter.device, run) for name, run in candidates.items()},
    )
    rates, utilization, runner_details = {}, {}, {}
    for name, timing in timings.items():
        result, utilization[name] = timing.result
        if name.startswith("runner"):
            runner_details[name] = {"timing": result["timing"], "cost": result["cost"]}
            rates[name] = result["data"]["samples"] / result["timing"]["wall_seconds"]
            rates[f"{name}_whole_call"] = result["data"]["samples"] / timing.seconds
        else:
            rates[name] = result / timing.seconds
    vs_bare = {name: rates[name] / rates["bare_generate_batch_32"] for name in runners}
    bare_answers = bare.answers()
    same = {}
    for name, runner in runners.items():
        answers = runner.answers()
        agree = sum(answers.get(sample_id) == text for sample_id, text in bare_answers.items())
        same[name] = round(agree / len(bare_answers), 4)
    best = max(runners, key=rates.__getitem__)
    vs_batch_1 = rates[best] / rates["runner_batch_1"]
    on_gpu = adapter.device.type == "cuda"
    passed = not on_gpu or (vs_bare[best] >= TARGET_VS_BARE and vs_batch_1 >= TARGET_VS_BATCH_1)
    describe = adapter.describe()
    return {
        "parameters": describe["parameters"],
        "dtype": describe["dtype"],
        "seconds": {name: round(timing.seconds, 3) for name, timing in timings.items()},
        "samples_per_second": {name: round(rate, 2) for name, rate in rates.items()},
        "runner_vs_bare": {name: round(ratio, 3) for name, ratio in vs_bare.items()},
        "faster_runner": best,
        "runner_answers_same_as_bare_loop": same,
        "batch_32_vs_batch_1": round(vs_batch_1, 2),
        "targets_apply": on_gpu,
        "passed": passed,
        "gpu_utilization": utilization,
        "runner_results": runner_details,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--sizes", default="tiny,mid")
    parser.add_argument("--dtype", default="auto", help="auto: bfloat16 on CUDA, else float32")
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--batch-1-samples", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--prepare-workers", type=int, default=8, help="workers of the prepare-in-workers runner"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        hint = "run with --device cpu --sizes tiny for a smoke test"
        print(f"no CUDA device here: {hint}", file=sys.stderr)
        return 2
    sizes = args.sizes.split(",")
    if unknown := set(sizes) - {"tiny", "mid"}:
        parser.error(f"--sizes: unknown {', '.join(sorted(unknown))} (tiny, mid)")
    load_tasks()
    task = get_task("vqav2")
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="vlm-eval-bench-") as name:
        folder = Path(name)
        write_vqav2_split(folder / "data", args.samples)
        samples = task.load(folder / "data" / "vqav2", task.eval_split)
        tiny = idefics2.build(folder / "tiny")
        for size in sizes:
            checkpoint = tiny if size == "tiny" else _mid_idefics2(tiny, folder / "mid")
            runs = folder / f"runs-{size}"
            report[size] = _benchmark_size(checkpoint, folder / "data", runs, args, samples, task)
            print(size, {k: report[size][k] for k in ("samples_per_second", "runner_vs_bare")})
    device = torch.device(args.device)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else args.device
    passed = all(result["passed"] for result in report.values())
    result = {
        "benchmark": "gpu",
        **environment(),
        "device": device_name,
        "settings": {
            "samples": args.samples,
            "batch_size": BATCH_SIZE,
            "batch_1_samples": args.batch_1_samples,
            "dtype": args.dtype,
            "num_workers": RunConfig.num_workers,
            "prepare_workers": args.prepare_workers,
            "max_new_tokens": task.generation.max_new_tokens,
            "repeats": args.repeats,
        },
        "targets": {"runner_vs_bare": TARGET_VS_BARE, "batch_32_vs_batch_1": TARGET_VS_BATCH_1},
        "passed": passed,
        "models": report,
    }
    summary = []
    variants = {"runner_batch_32": "", "runner_batch_32_prepare_in_workers": ", prepare in workers"}
    for size, figures in report.items():
        rates = figures["samples_per_second"]
        target_bare = TARGET_VS_BARE if figures["targets_apply"] else None
        target_batch = TARGET_VS_BATCH_1 if figures["targets_apply"] else None
        model = f"{size} Idefics2 ({figures['parameters'] / 1e6:.1f} M, {figures['dtype']})"
        for name, variant in variants.items():
            ratio, same = (
                figures["runner_vs_bare"][name],
                figures["runner_answers_same_as_bare_loop"][name],
            )
            summary.append(
                SummaryRow(
                    measure=f"{model} on {device_name}: runner{variant} vs bare model.generate, "
                    f"batch {BATCH_SIZE} ({same:.0%} same answers)",
                    baseline=f"{rates['bare_generate_batch_32']:.1f} samples/s",
                    vlm_eval=f"{rates[name]:.1f} samples/s",
                    ratio=ratio,
                    target=target_bare,
                    passed=target_bare is None or ratio >= target_bare,
                )
            )
        best = figures["faster_runner"]
        summary.append(
            SummaryRow(
                measure=f"{model} on {device_name}: runner{variants[best]} batch {BATCH_SIZE} vs "
                "batch 1",
                baseline=f"{rates['runner_batch_1']:.1f} samples/s",
                vlm_eval=f"{rates[best]:.1f} samples/s",
                ratio=figures["batch_32_vs_batch_1"],
                target=target_batch,
                passed=target_batch is None or figures["batch_32_vs_batch_1"] >= target_batch,
            )
        )
    write_result(args.output, result, summary)
    print(f"-> {args.output}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
