"""Write the run folders step-1000, step-2000 and step-3000 beside this file: three checkpoints
of one (made-up) training run, for the report, compare and leaderboard tests.

`python tests/data/runs/build_checkpoints.py` rewrites them; tests/test_compare.py checks that
the files here are what this script writes. Per-sample VQA scores are computed by the real
metric from the predictions and references below, so the numbers the tests expect can be
checked by hand:

- pope (a user task with exact-match scores, 200 samples): step-1000 right on samples 0-149
  (75.00); step-2000 loses sample 0 and gains 150-155 (77.50: McNemar 1 vs 6 discordant, exact
  p = 0.125); step-3000 also loses 1-40 (57.50: 40 vs 0 discordant).
- vqav2 (20 samples): 10 yes/no (references all "yes"), 5 number (3 x "2", 7 x "3": "3" scores
  1, "2" 0.9, "4" 0), 5 other (1 x "red", 9 x "blue": "blue" 1, "red" 0.3, "green" 0).
  step-1000 62.50 (yes/no 80, number 58, other 32), step-2000 77.50 (90, 78, 52), step-3000
  44.50 (50, 78, 0).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from vlm_eval.metrics import vqa_accuracy

HERE = Path(__file__).parent
STEPS = (1000, 2000, 3000)

_POPE_RIGHT = {
    1000: set(range(150)),
    2000: set(range(1, 156)),
    3000: set(range(41, 156)),
}
_YES_NO_RIGHT = {1000: 8, 2000: 9, 3000: 5}
_NUMBER = {
    1000: ["3", "2", "4", "4", "3"],
    2000: ["3", "3", "2", "4", "3"],
    3000: ["3", "3", "2", "4", "3"],
}
_OTHER = {
    1000: ["blue", "red", "red", "green", "green"],
    2000: ["blue", "blue", "red", "red", "green"],
    3000: ["green"] * 5,
}


def _record(
    task: str,
    sample_id: str,
    question: str,
    references: list[str],
    prediction: str,
    score: float,
    metadata: dict[str, str],
) -> dict[str, Any]:
    return {
        "generated_tokens": 2,
        "metadata": metadata,
        "prediction": prediction,
        "prompt": [
            {
                "content": [
                    {"image": f"images/{sample_id}.jpg", "type": "image"},
                    {"text": question, "type": "text"},
                ],
                "role": "user",
            }
        ],
        "prompt_tokens": 80,
        "raw_output": prediction,
        "references": references,
        "request_key": hashlib.sha256(f"{task}/{sample_id}/{prediction}".encode()).hexdigest()[:32],
        "sample_id": sample_id,
        "scores": {"accuracy": score},
        "shots": [],
        "task": task,
        "visual_tokens": 64,
    }


def pope_records(step: int) -> list[dict[str, Any]]:
    records = []
    for i in range(200):
        truth = "yes" if i % 2 == 0 else "no"
        right = i in _POPE_RIGHT[step]
        prediction = truth if right else ("no" if truth == "yes" else "yes")
        records.append(
            _record(
                "pope",
                f"p{i:03d}",
                f"Is there a cat in the image? ({i})",
                [truth],
                prediction,
                float(right),
                {"category": "random"},
            )
        )
    return records


def vqav2_records(step: int) -> list[dict[str, Any]]:
    records = []
    for i in range(10):
        truth = "yes" if i % 2 == 0 else "no"
        prediction = truth if i < _YES_NO_RIGHT[step] else ("no" if truth == "yes" else "yes")
        records.append((f"q{i:02d}", "Is it sunny?", [truth] * 10, prediction, "yes/no", "is it"))
    for i, prediction in enumerate(_NUMBER[step]):
        records.append(
            (
                f"q{10 + i}",
                "How many dogs?",
                ["2"] * 3 + ["3"] * 7,
                prediction,
                "number",
                "how many",
            )
        )
    for i, prediction in enumerate(_OTHER[step]):
        records.append(
            (
                f"q{15 + i}",
                "What color is the car?",
                ["red"] + ["blue"] * 9,
                prediction,
                "other",
                "what color is the",
            )
        )
    return [
        _record(
            "vqav2",
            sample_id,
            question,
            refs,
            prediction,
            vqa_accuracy(prediction, refs),
            {"answer_type": answer_type, "question_type": question_type},
        )
        for sample_id, question, refs, prediction, answer_type, question_type in records
    ]


def _mean(values: list[float]) -> float:
    return 100.0 * sum(values) / len(values)


def _task_entry(name: str, records: list[dict[str, Any]], rate: float) -> dict[str, Any]:
    scores = [r["scores"]["accuracy"] for r in records]
    breakdowns: dict[str, dict[str, float]] = {}
    if name == "vqav2":
        for kind in ("answer_type", "question_type"):
            groups: dict[str, list[float]] = {}
            for record, score in zip(records, scores, strict=True):
                groups.setdefault(record["metadata"][kind], []).append(score)
            breakdowns[kind] = {group: _mean(values) for group, values in sorted(groups.items())}
    return {
        "task": {
            "name": name,
            "version": "1.0",
            "main_metric": "accuracy",
            "sample_score_scale": 100.0,
            "scoring": {"vqa_mode": "normalized"} if name == "vqav2" else {},
        },
        "data": {
            "source": "official",
            "location": f"/data/{name}",
            "split": "val",
            "revision": None,
            "fewshot_split": None,
            "pool": None,
            "samples": len(records),
            "failed": 0,
            "scored_samples": len(records),
        },
        "scores": {"metrics": {"accuracy": _mean(scores)}, "breakdowns": breakdowns, "notes": {}},
        "submission_file": None,
        "failures": [],
        "samples_file": f"samples_{name}.jsonl",
        "timing_file": f"timing_{name}.jsonl",
        "cost": {
            "prompt_tokens_mean": 80.0,
            "visual_tokens_mean": 64.0,
            "generated_tokens_mean": 2.0,
        },
        "timing": {
            "wall_seconds": len(records) / rate,
            "generation_seconds": len(records) / rate,
            "generated_samples": len(records),
            "reused_samples": 0,
            "samples_per_second": rate,
        },
    }


def results(step: int, tasks: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "created_at": f"2026-11-2{STEPS.index(step)}T10:00:00+00:00",
        "config": {
            "model": "hf",
            "model_args": {"pretrained": f"org/vlm/checkpoint-{step}"},
            "tasks": list(tasks),
            "data_dir": "/data",
            "output_dir": f"runs/step-{step}",
            "limit": None,
            "num_fewshot": 0,
            "batch_size": 32,
            "seed": 1234,
        },
        "model": {
            "adapter": "hf",
            "pretrained": f"org/vlm/checkpoint-{step}",
            "revision": None,
            "weights_sha256": f"{step:04x}",
            "architecture": "Idefics2ForConditionalGeneration",
            "parameters": 8402000000,
            "dtype": "bfloat16",
            "device": "cuda",
        },
        "provenance": {
            "versions": {"python": "3.11.7", "vlm-eval": "0.1.0"},
            "git_revision": "cafe",
            "command": ["vlm-eval"],
            "hardware": {"platform": "Linux", "cpu_count": 16, "cuda_devices": ["NVIDIA H100"]},
        },
        "tasks": {
            name: _task_entry(name, records, rate=50.0 + step / 100)
            for name, records in tasks.items()
        },
        "wall_seconds": 100.0,
    }


def write(folder: Path) -> None:
    """Write the three run folders into ``folder``."""
    for step in STEPS:
        run = folder / f"step-{step}"
        run.mkdir(parents=True, exist_ok=True)
        tasks = {"vqav2": vqav2_records(step), "pope": pope_records(step)}
        for name, records in tasks.items():
            lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
            (run / f"samples_{name}.jsonl").write_text(lines, encoding="utf-8")
        text = json.dumps(results(step, tasks), indent=1, sort_keys=True) + "\n"
        (run / "results.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
