"""Benchmark: a VQAv2-validation-size run with a model that answers at once, each run a process.

Data: synthetic official val2014 files (``bench.synthetic_images``, questions and answers from
``bench.synthetic_vqa``): 214,354 questions on 40,504 images, as the real split has, the images
64x48 JPEGs of about 1.8 KB so that the harness, not decoding, is measured. ``--questions N``
scales the images with it; the data is cached in ``build/bench-scale/`` across runs.

Each run is a fresh process (``bench._scale_child``), timed from before it starts to its exit,
so that imports, start-up and memory count as a user sees them:

- the harness: ``run_evaluation`` of ``vqav2`` with the null adapter of
  ``bench.harness_overhead``, batch 64, W image-decoding workers, W of ``--num-workers``
  (default 0 and 1: the faster counts, on 2 cores);
- the baseline: a plain loop in one process: ``json.load`` of the two files, each image opened
  once as RGB, a null model in batches of 64, the official VQA accuracy (``vlm_eval.metrics``),
  one predictions file.

They take turns ``--repeats`` times; the fastest run of each counts. Measures, with targets:

1. Throughput, samples/s over wall time, harness / plain loop: >= 0.8.
2. Process start to the first ``generate`` call, less the plain loop's ``json.load``: <= 5 s.
3. The same harness command again on a finished run folder (nothing to do): <= 5 s.
4. The harness's main-process peak RSS beyond a process that makes its imports and loads the
   samples as the runner does, per question: <= 2 KiB. The peak of its child processes is
   recorded too (a forked worker's counts the pages it shares with the main process).
5. ``vlm-eval report RUN`` and ``vlm-eval compare RUN_A RUN_B`` (two harness runs): peak RSS
   beyond ``vlm-eval --help``, per question: <= 1 KiB each.
6. Start-up of ``vlm-eval list tasks`` and ``vlm-eval report --help``: <= 1 s each, and
   whether torch was imported.
7. The runner's own timing (``results.json``): per sample, in ``generate`` and the rest.

Limits (2-6) appear in the summary as limit / figure (capped at 100) against a target of 1.
Writes ``bench/results/scale.json``; exits 1 if a target is missed.

    python -m bench.scale [--questions 214354] [--num-workers 0,1] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench._common import RESULTS_DIR, SummaryRow, environment, interleaved, write_result
from bench.synthetic_images import write_vqav2_split

RESULTS = RESULTS_DIR / "scale.json"
ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = ROOT / "build" / "bench-scale"
FULL_QUESTIONS, FULL_IMAGES = 214_354, 40_504
IMAGE_SIZE, JPEG_QUALITY = (64, 48), 70
TARGET_RATIO = 0.8
LIMIT_FIRST_GENERATE_S = LIMIT_RESUME_S = 5.0
LIMIT_RUN_KIB, LIMIT_REPORT_KIB = 2.0, 1.0
LIMIT_STARTUP_S = 1.0
_CAP = 100.0
_CHILD = [sys.executable, "-m", "bench._scale_child"]
_CLI = str(Path(sys.executable).parent / "vlm-eval")


@dataclass(frozen=True)
class _Process:
    """A finished child process: when it started (``time.time()``), its wall seconds, its
    standard error, its report (``bench._scale_child``'s, else empty) and run folder."""

    started: float
    seconds: float
    stderr: str
    report: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None


def _run(argv: list[str], report: Path | None = None) -> _Process:
    """Run ``argv`` (in the repository, standard output discarded) and measure it.

    Raises:
        RuntimeError: If it fails, with the end of its standard error.
    """
    started, began = time.time(), time.perf_counter()
    process = subprocess.run(
        argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False
    )
    seconds = time.perf_counter() - began
    if process.returncode:
        raise RuntimeError(f"{' '.join(argv)}: exit {process.returncode}\n{process.stderr[-3000:]}")
    return _Process(
        started=started,
        seconds=seconds,
        stderr=process.stderr,
        report=json.loads(report.read_text(encoding="utf-8")) if report else {},
    )


def prepare_data(questions: int, seed: int, root: Path) -> tuple[Path, dict[str, Any]]:
    """The data folder of ``questions`` questions in ``root`` (written unless already there)
    and what it holds: images and their total bytes."""
    images = max(1, round(questions * FULL_IMAGES / FULL_QUESTIONS))
    width, height = IMAGE_SIZE
    data_dir = root / f"q{questions}-i{images}-{width}x{height}-jpeg{JPEG_QUALITY}-seed{seed}"
    complete = data_dir / "complete.json"  # written last: a folder without it is rewritten
    if not complete.exists():
        shutil.rmtree(data_dir, ignore_errors=True)
        started = time.perf_counter()
        paths = write_vqav2_split(
            data_dir,
            questions,
            questions_per_image=questions / images,
            seed=seed,
            processes=os.cpu_count() or 1,
            size=IMAGE_SIZE,
            quality=JPEG_QUALITY,
        )
        facts = {
            "images": len(paths),
            "image_bytes": sum(path.stat().st_size for path in paths),
            "seconds_to_write": round(time.perf_counter() - started, 1),
        }
        complete.write_text(json.dumps(facts), encoding="utf-8")
    return data_dir, json.loads(complete.read_text(encoding="utf-8"))


class _Runs:
    """Starts the child processes of one benchmark in ``work``, each run in a new run folder
    unless told which; ``kept`` holds the runs of each candidate of ``kept_run``."""

    def __init__(self, data_dir: Path, work: Path) -> None:
        self.data_dir, self.work = data_dir, work
        self.kept: dict[str, list[_Process]] = {}
        self._count = 0

    def _report(self) -> Path:
        self._count += 1
        return self.work / f"report-{self._count}.json"

    def child(self, mode: str, workers: int = 0, run_dir: Path | None = None) -> _Process:
        """A run of ``mode`` (``harness``, ``plain`` or ``load``) with ``workers``."""
        report = self._report()
        run_dir = run_dir or self.work / f"{mode}-{self._count}"
        argv = [*_CHILD, mode, str(report), str(self.data_dir), str(run_dir)]
        process = _run([*argv, "--num-workers", str(workers)], report)
        return replace(process, run_dir=run_dir)

    def vlm_eval(self, arguments: list[str]) -> _Process:
        """``vlm-eval ARGUMENTS``, reporting its peak RSS."""
        report = self._report()
        return _run([*_CHILD, "cli", str(report), *arguments], report)

    def kept_run(self, name: str, mode: str, workers: int = 0) -> Callable[[], _Process]:
        """A new run of ``mode``, kept under ``name``."""

        def run() -> _Process:
            process = self.child(mode, workers)
            self.kept.setdefault(name, []).append(process)
            return process

        return run


def _startup_seconds(arguments: list[str], repeats: int) -> float:
    """The fastest of ``repeats`` runs of the ``vlm-eval`` console script with ``arguments``."""
    return min(_run([_CLI, *arguments]).seconds for _ in range(repeats))


def _imports_torch(arguments: list[str]) -> bool:
    """Whether ``vlm-eval ARGUMENTS`` imports torch (``python -X importtime``)."""
    process = _run([sys.executable, "-X", "importtime", _CLI, *arguments])
    return re.search(r"\|\s*torch$", process.stderr, re.MULTILINE) is not None


def _within(limit: float, figure: float) -> float:
    """``limit / figure``, capped: 1 or more is within the limit."""
    return round(min(_CAP, limit / figure if figure > 0 else _CAP), 2)


def _kib(kib: float) -> str:
    return f"{kib / 1024:,.0f} MiB"


def measure(
    args: argparse.Namespace, worker_counts: list[int]
) -> tuple[dict[str, Any], list[SummaryRow]]:
    """Run every measure as ``main``'s arguments say; the result document and summary rows."""
    questions, repeats = args.questions, args.repeats
    data_dir, data = prepare_data(questions, args.seed, args.data_root)
    with tempfile.TemporaryDirectory(prefix="vlm-eval-bench-scale-") as folder:
        work = Path(folder)
        runs = _Runs(data_dir, work)
        candidates = {"plain_loop": runs.kept_run("plain_loop", "plain")}
        for w in worker_counts:
            candidates[f"harness_w{w}"] = runs.kept_run(f"harness_w{w}", "harness", w)
        timings = interleaved(repeats, candidates)
        plain = timings["plain_loop"]
        plain_report = plain.result.report
        json_load = min(p.report["json_load_seconds"] for p in runs.kept["plain_loop"])
        best = min(worker_counts, key=lambda w: timings[f"harness_w{w}"].seconds)
        configurations = {
            w: _configuration(runs.kept[f"harness_w{w}"], timings[f"harness_w{w}"].runs, questions)
            for w in worker_counts
        }
        fastest = configurations[best]
        finished = runs.kept[f"harness_w{best}"][-1].run_dir
        resumes = [runs.child("harness", best, finished) for _ in range(repeats)]
        resume = min(resumes, key=lambda p: p.seconds)
        loaded = runs.child("load")
        all_runs = [p for w in worker_counts for p in runs.kept[f"harness_w{w}"]]
        if len(all_runs) < 2:
            all_runs.append(runs.child("harness", best))
        run_a, run_b = (str(p.run_dir) for p in all_runs[:2])
        help_rss = runs.vlm_eval(["--help"]).report["peak_rss_kib"]
        reports = {
            "report": runs.vlm_eval(["report", run_a]),
            "compare": runs.vlm_eval(["compare", run_a, run_b]),
        }
        startup = {
            " ".join(command): {
                "seconds": round(_startup_seconds(command, args.startup_repeats), 3),
                "imports_torch": _imports_torch(command),
            }
            for command in (["list", "tasks"], ["report", "--help"])
        }
    plain_rate = questions / plain.seconds
    harness_rate = fastest["samples_per_second"]
    first_generate = fastest["start_to_first_generate_seconds"] - json_load
    main_kib = (fastest["peak_rss_kib"] - loaded.report["peak_rss_kib"]) / questions
    report_kib = {
        name: (process.report["peak_rss_kib"] - help_rss) / questions
        for name, process in reports.items()
    }
    timing = fastest["runner_timing"]
    generate_us = 1e6 * timing["generation_seconds"] / questions
    rest_us = 1e6 * (timing["wall_seconds"] - timing["generation_seconds"]) / questions
    result = {
        "benchmark": "scale",
        **environment(),
        "settings": {
            "questions": questions,
            "images": data["images"],
            "image_size": f"{IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} JPEG, quality {JPEG_QUALITY}",
            "mean_image_bytes": round(data["image_bytes"] / data["images"]),
            "data_dir": str(data_dir),
            "batch_size": 64,
            "num_workers": worker_counts,
            "repeats": repeats,
            "seed": args.seed,
        },
        "plain_loop": {
            "seconds": round(plain.seconds, 3),
            "all_runs_seconds": [round(s, 3) for s in plain.runs],
            "samples_per_second": round(plain_rate, 1),
            "json_load_seconds": round(json_load, 3),
            "peak_rss_kib": plain_report["peak_rss_kib"],
            "accuracy": plain_report["accuracy"],
        },
        "harness": {f"num_workers_{w}": c for w, c in configurations.items()},
        "fastest_num_workers": best,
        "throughput_ratio": round(harness_rate / plain_rate, 3),
        "same_accuracy": all(
            abs(c["accuracy"] - plain_report["accuracy"]) < 1e-6 for c in configurations.values()
        ),
        "first_generate_seconds_beyond_json_load": round(first_generate, 3),
        "resume": {
            "seconds": round(resume.seconds, 3),
            "all_runs_seconds": [round(p.seconds, 3) for p in resumes],
            "samples_generated_again": resume.report["images_received"],
        },
        "memory_kib": {
            "harness_main_process": fastest["peak_rss_kib"],
            "harness_workers": fastest["workers_peak_rss_kib"],
            "imports_and_loaded_samples": loaded.report["peak_rss_kib"],
            "per_question_beyond_loaded_samples": round(main_kib, 3),
            "vlm_eval_help": help_rss,
            **{f"vlm_eval_{name}": p.report["peak_rss_kib"] for name, p in reports.items()},
            **{f"vlm_eval_{name}_per_question": round(kib, 3) for name, kib in report_kib.items()},
        },
        "report_seconds": {name: round(p.seconds, 3) for name, p in reports.items()},
        "startup": startup,
        "runner_timing_per_sample_us": {"generate": round(generate_us, 2), "rest": round(rest_us)},
    }
    runs_text = f"{questions:,} questions, {data['images']:,} images"
    place = f"W={best} (fastest of {', '.join(map(str, worker_counts))})"
    summary = [
        SummaryRow(
            measure=f"{runs_text}, null model, batch 64, each run a process: harness {place} vs "
            f"a plain loop, samples/s over wall time incl. start-up (same accuracy: "
            f"{'yes' if result['same_accuracy'] else 'no'})",
            baseline=f"{plain_rate:,.0f} samples/s",
            vlm_eval=f"{harness_rate:,.0f} samples/s",
            ratio=round(harness_rate / plain_rate, 2),
            target=TARGET_RATIO,
            passed=result["same_accuracy"]
            and all(c["all_samples_evaluated"] for c in configurations.values())
            and harness_rate / plain_rate >= TARGET_RATIO,
        ),
        _limit_row(
            f"{runs_text}: process start to first generate, less the plain loop's json.load",
            f"{json_load:.1f} s json.load",
            f"{fastest['start_to_first_generate_seconds']:.1f} s to first generate",
            LIMIT_FIRST_GENERATE_S,
            first_generate,
            "s",
        ),
        _limit_row(
            f"{runs_text}: the same run again on its finished folder (nothing to do)",
            f"{json_load:.1f} s json.load",
            f"{resume.seconds:.1f} s",
            LIMIT_RESUME_S,
            resume.seconds,
            "s",
        ),
        _limit_row(
            f"{runs_text}: harness main-process peak RSS beyond imports + loaded samples, per "
            f"question (workers' peak {_kib(fastest['workers_peak_rss_kib'])})",
            _kib(loaded.report["peak_rss_kib"]),
            _kib(fastest["peak_rss_kib"]),
            LIMIT_RUN_KIB,
            main_kib,
            "KiB",
        ),
        *(
            _limit_row(
                f"{runs_text}: vlm-eval {name} peak RSS beyond vlm-eval --help, per question "
                f"({reports[name].seconds:.1f} s)",
                _kib(help_rss),
                _kib(reports[name].report["peak_rss_kib"]),
                LIMIT_REPORT_KIB,
                report_kib[name],
                "KiB",
            )
            for name in reports
        ),
        *(
            _limit_row(
                f"start-up of vlm-eval {command} (imports torch: "
                f"{'yes' if figures['imports_torch'] else 'no'})",
                "—",
                f"{figures['seconds']:.2f} s",
                LIMIT_STARTUP_S,
                figures["seconds"],
                "s",
            )
            for command, figures in startup.items()
        ),
        SummaryRow(
            measure=f"{runs_text}: the runner's own timing (results.json), W={best}, per "
            "sample: in generate vs the rest of the run (ratio: generate's share)",
            baseline=f"{generate_us:.1f} µs in generate",
            vlm_eval=f"{rest_us:,.0f} µs the rest",
            ratio=round(generate_us / (generate_us + rest_us), 4),
            target=None,
            passed=True,
        ),
    ]
    result["passed"] = all(row.passed for row in summary)
    return result, summary


def _configuration(
    processes: list[_Process], seconds: list[float], questions: int
) -> dict[str, Any]:
    """The figures of one W's harness runs: the fastest run's, and every run's wall time."""
    fastest = processes[seconds.index(min(seconds))]
    report = fastest.report
    return {
        "seconds": round(min(seconds), 3),
        "all_runs_seconds": [round(s, 3) for s in seconds],
        "samples_per_second": round(questions / min(seconds), 1),
        "start_to_first_generate_seconds": round(
            min(p.report["first_generate_time"] - p.started for p in processes), 3
        ),
        "peak_rss_kib": min(p.report["peak_rss_kib"] for p in processes),
        "workers_peak_rss_kib": max(p.report["workers_peak_rss_kib"] for p in processes),
        "all_samples_evaluated": report["data"]["samples"] == questions
        and not report["data"]["failed"]
        and report["images_received"] == questions,
        "accuracy": report["accuracy"],
        "runner_timing": report["timing"],
    }


def _limit_row(
    measure: str, baseline: str, vlm_eval: str, limit: float, figure: float, unit: str
) -> SummaryRow:
    """A row whose target is a limit on ``figure``: ratio ``limit / figure``, target 1."""
    return SummaryRow(
        measure=f"{measure}: {figure:,.2f} {unit} (limit {limit:g} {unit})",
        baseline=baseline,
        vlm_eval=vlm_eval,
        ratio=_within(limit, figure),
        target=1.0,
        passed=figure <= limit,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=FULL_QUESTIONS)
    parser.add_argument("--num-workers", default="0,1", help="comma-separated W to measure")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--startup-repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT, help="the data cache")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    worker_counts = [int(w) for w in args.num_workers.split(",")]
    if args.repeats < 1 or min(worker_counts) < 0:
        parser.error("--repeats must be positive and --num-workers at least 0")
    result, summary = measure(args, worker_counts)
    write_result(args.output, result, summary)
    for row in summary:
        print(
            f"{row.measure}: {row.baseline} vs {row.vlm_eval}, {row.ratio}x "
            f"({'met' if row.passed else 'missed'})"
        )
    print(f"-> {args.output}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
