"""Benchmark: VQA accuracy of 214,000 synthetic VQAv2-style questions (the size of VQAv2 val).

The same official files are scored on one core by a direct port of the official ``vqaEval.py``
(``bench/official_vqa_eval.py``) and by vlm-eval, in two scopes:

- ``metric``: the accuracy algorithm with breakdowns, on data already in memory (the official
  ``VQAEval.evaluate()`` on its ``qa`` dicts vs ``score_vqa_samples``): the issue's 10x target.
- ``end_to_end``: from the files on disk to the figures (the port reads the JSON into its dicts;
  ``vlm-eval score`` also validates every record to name the file, id and field of bad input).

vlm-eval starts each timing with an empty normalization cache. The two must agree on every figure
the official tool reports (overall, per answer type, per question type and per question, rounded
to 2 decimals) or the benchmark fails. Writes ``bench/results/vqa_accuracy.json``.

    python -m bench.vqa_accuracy [--questions N] [--output PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bench._common import RESULTS_DIR, SummaryRow, environment, write_result
from bench.official_vqa_eval import OfficialVQAEval
from bench.synthetic_vqa import write_synthetic_vqa
from vlm_eval.data import load_vqa, read_predictions
from vlm_eval.metrics import clear_vqa_caches, score_vqa_predictions, score_vqa_samples

RESULTS = RESULTS_DIR / "vqa_accuracy.json"
VQAV2_VAL_QUESTIONS = 214_354
TARGET_SPEEDUP = 10.0

Result = TypeVar("Result")


def _timed(function: Callable[[], Result]) -> tuple[Result, float]:
    clear_vqa_caches()
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def _official_qa(annotations: Path, predictions: Path) -> tuple[dict[int, Any], dict[int, Any]]:
    """The official ``qa`` dicts (question id -> annotation / result), as ``VQA`` builds them."""
    gts = {a["question_id"]: a for a in json.loads(annotations.read_text())["annotations"]}
    res = {r["question_id"]: r for r in json.loads(predictions.read_text())}
    if set(res) != set(gts):
        raise SystemExit("results do not cover the annotated questions")
    return gts, res


def _official_evaluation(gts: dict[int, Any], res: dict[int, Any]) -> OfficialVQAEval:
    evaluator = OfficialVQAEval(n=2)
    evaluator.evaluate(gts, res)
    return evaluator


def _official_from_files(questions: Path, annotations: Path, predictions: Path) -> OfficialVQAEval:
    json.loads(questions.read_text())  # the official VQA class reads it too
    return _official_evaluation(*_official_qa(annotations, predictions))


def _differences(official: OfficialVQAEval, ours: dict[str, Any]) -> list[str]:
    """Every reported figure on which the two disagree at the official 2-decimal rounding."""
    figures = [("overall", official.accuracy["overall"], ours["metrics"]["accuracy"])]
    breakdowns = (("perAnswerType", "answer_type"), ("perQuestionType", "question_type"))
    for theirs_key, our_key in breakdowns:
        ours_groups = ours["breakdowns"][our_key]
        if set(ours_groups) != set(official.accuracy[theirs_key]):
            return [f"{our_key}: groups differ"]
        figures += [
            (f"{our_key}={group}", value, ours_groups[group])
            for group, value in official.accuracy[theirs_key].items()
        ]
    figures += [
        (f"question {qid}", value, ours["per_question"][str(qid)])
        for qid, value in official.eval_qa.items()
    ]
    return [f"{name}: official {a} vs ours {b}" for name, a, b in figures if a != round(b, 2)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=VQAV2_VAL_QUESTIONS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the issue asks

    with tempfile.TemporaryDirectory() as folder:
        files = write_synthetic_vqa(Path(folder), args.questions, args.seed)
        qa = _official_qa(files[1], files[2])
        samples = load_vqa(files[0], files[1], Path(), "{image_id}")
        answers = read_predictions(files[2], "question_id", "answer")
        seconds: dict[str, dict[str, float]] = {"metric": {}, "end_to_end": {}}
        official, seconds["metric"]["official_port"] = _timed(lambda: _official_evaluation(*qa))
        outputs = {}
        for mode in ("official", "normalized"):
            outputs[mode], seconds["metric"][f"vlm_eval_{mode}_mode"] = _timed(
                lambda mode=mode: score_vqa_samples(samples, answers, mode=mode)
            )
        official_e2e, seconds["end_to_end"]["official_port"] = _timed(
            lambda: _official_from_files(*files)
        )
        ours_e2e, seconds["end_to_end"]["vlm_eval_official_mode"] = _timed(
            lambda: score_vqa_predictions(*files, mode="official")
        )

    differences = _differences(official, outputs["official"]) + _differences(official_e2e, ours_e2e)
    speedups = {
        scope: round(times["official_port"] / times["vlm_eval_official_mode"], 1)
        for scope, times in seconds.items()
    }
    passed = not differences and speedups["metric"] >= TARGET_SPEEDUP
    result = {
        "benchmark": "vqa_accuracy",
        **environment(),
        "questions": args.questions,
        "seed": args.seed,
        "cores": 1,
        "seconds": {
            scope: {name: round(value, 3) for name, value in times.items()}
            for scope, times in seconds.items()
        },
        "speedup_official_mode": speedups,
        "target_speedup_metric": TARGET_SPEEDUP,
        "passed": passed,
        "identical_to_official": not differences,
        "differences": differences[:20],
        "overall_accuracy": {
            "official_port": official.accuracy["overall"],
            "vlm_eval_official_mode": round(outputs["official"]["metrics"]["accuracy"], 2),
            "vlm_eval_normalized_mode": round(outputs["normalized"]["metrics"]["accuracy"], 2),
        },
    }
    metric, end_to_end = seconds["metric"], seconds["end_to_end"]
    scopes = {"metric": "the metric", "end_to_end": "from the files"}
    summary = [
        SummaryRow(
            measure=f"VQA accuracy of {args.questions:,} questions, 1 core, {label}: official "
            f"vqaEval.py port vs vlm-eval (identical figures: {'no' if differences else 'yes'})",
            baseline=f"{seconds[scope]['official_port']:.2f} s",
            vlm_eval=f"{seconds[scope]['vlm_eval_official_mode']:.2f} s",
            ratio=speedups[scope],
            target=TARGET_SPEEDUP if scope == "metric" else None,
            passed=passed if scope == "metric" else not differences,
        )
        for scope, label in scopes.items()
    ]
    write_result(args.output, result, summary)
    print(
        f"VQA accuracy, {args.questions:,} questions, 1 core. Metric: official port "
        f"{metric['official_port']:.2f} s, vlm-eval {metric['vlm_eval_official_mode']:.2f} s "
        f"({speedups['metric']}x). From files: {end_to_end['official_port']:.2f} s vs "
        f"{end_to_end['vlm_eval_official_mode']:.2f} s ({speedups['end_to_end']}x). "
        f"Identical: {not differences}. -> {args.output}"
    )
    for line in differences[:20]:
        print("  differs:", line, file=sys.stderr)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
