"""Prompt sensitivity (``--templates``): one task entry per template, recorded and reported with
intervals, mean and spread, and each template tested against the best one."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from vlm_eval.cli import main
from vlm_eval.models import HuggingFaceAdapter
from vlm_eval.report import load_runs, render_html, render_markdown
from vlm_eval.report._compare import compare_runs, comparison_blocks
from vlm_eval.report._document import to_markdown
from vlm_eval.report._leaderboard import leaderboard_blocks, rate_runs
from vlm_eval.report._statistics import holm_adjusted
from vlm_eval.runner import RunConfig, run_evaluation
from vlm_eval.tasks import load_tasks

INSTRUCTION = "Instruction: provide an answer to the question. Use the image to answer."


@pytest.fixture(autouse=True)
def _tasks() -> None:
    load_tasks()


def _text(record: dict[str, Any]) -> str:
    return "".join(
        part.get("text", "") for message in record["prompt"] for part in message["content"]
    )


def _records(folder: Path, entry: str) -> list[dict[str, Any]]:
    lines = (folder / f"samples_{entry}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _row(markdown: str, first: str, after: str = "## Prompt sensitivity") -> list[str]:
    """The cells of the first table row starting with ``first`` after the line ``after``."""
    lines = markdown.splitlines()
    start = lines.index(after)
    line = next(line for line in lines[start:] if line.startswith(f"| {first} |"))
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def test_each_template_is_a_task_entry_with_its_own_prompts_records_and_scores(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    config = RunConfig(
        model="hf", model_args={}, tasks=("vqav2",), data_dir=mini_data,
        output_dir=tmp_path / "sweep", limit=2, num_workers=0, protocol="idefics2-base",
        templates=("4", "9"),
    )  # fmt: skip
    results = run_evaluation(config, tiny_adapter)
    assert results["templates"] == {"vqav2": ["4", "9"]}
    assert results["default_templates"] == {"vqav2": "9"}  # idefics2-base's VQA default
    assert results["config"]["templates"] == ["4", "9"]
    assert set(results["tasks"]) == {"vqav2@t4", "vqav2@t9"}
    for template in ("4", "9"):
        entry = results["tasks"][f"vqav2@t{template}"]
        assert entry["task"]["protocol"]["template_id"] == template
        assert entry["samples_file"] == f"samples_vqav2@t{template}.jsonl"
    four, nine = (_records(tmp_path / "sweep", f"vqav2@t{t}") for t in ("4", "9"))
    assert [r["sample_id"] for r in four] == [r["sample_id"] for r in nine]  # paired samples
    assert {r["request_key"] for r in four}.isdisjoint(r["request_key"] for r in nine)
    for record in four:  # template 4: no instruction, straight to the image and the question
        assert INSTRUCTION not in _text(record)
        assert _text(record).startswith("Image:Question: ")
    for record in nine:
        assert _text(record).startswith(f"{INSTRUCTION}\nImage:Question: ")

    report = render_markdown(load_runs([tmp_path / "sweep"]))
    assert "## Prompt sensitivity" in report
    summary = _row(report, "sweep")  # run, task, templates, mean, min, max, sd, best, worse
    scores = [results["tasks"][f"vqav2@t{t}"]["scores"]["metrics"]["accuracy"] for t in "49"]
    assert summary[:4] == ["sweep", "vqav2 (accuracy)", "2", f"{sum(scores) / 2:.2f}"]
    assert summary[4:6] == [f"{min(scores):.2f}", f"{max(scores):.2f}"]
    for template in ("4", "9"):  # template, verdict, test, accuracy, interval, Δ, p, Holm p
        row = _row(report, template, "### sweep: vqav2 by template")
        assert (
            row[3]
            == f"{results['tasks'][f'vqav2@t{template}']['scores']['metrics']['accuracy']:.2f}"
        )
        assert row[4].startswith("[") and row[4].endswith("]")
    assert run_evaluation(config, tiny_adapter) == results  # up to date: nothing to do
    again = run_evaluation(replace(config, batch_size=3), tiny_adapter)  # reuses every prediction
    assert all(entry["timing"]["generated_samples"] == 0 for entry in again["tasks"].values())


def test_all_templates_from_the_command_line(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    output = tmp_path / "all"
    result = CliRunner().invoke(
        main,
        [
            "run", "--model-args", f"pretrained={tiny_model_dir},device=cpu,dtype=float32",
            "--tasks", "vqav2", "--data-dir", str(mini_data), "--output", str(output),
            "--limit", "2", "--num-workers", "0", "--protocol", "idefics2-base",
            "--templates", "all",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    results = json.loads((output / "results.json").read_text(encoding="utf-8"))
    assert results["templates"] == {"vqav2": [str(t) for t in range(16)]}
    assert len(results["tasks"]) == 16
    for template in range(16):
        assert len(_records(output, f"vqav2@t{template}")) == 2
    # Template 14 (``User: {question} {answer}``) shows no image: a text-only prompt.
    (text_only,) = _records(output, "vqav2@t14")[0]["prompt"]
    assert [part["type"] for part in text_only["content"]] == ["special", "text"]
    assert _row(result.output, "all")[2] == "16"  # the report printed after the run


def _write_sweep(
    folder: Path,
    correct: dict[str, list[int]],
    default: str = "0",
    *,
    plain: dict[str, list[int]] | None = None,
) -> None:
    """A run folder swept over templates by hand: ``correct``: template of vqav2 -> 0/1 per
    sample (none: vqav2 is not swept); ``default``: the protocol's default template;
    ``plain``: tasks run once (at the default template) -> 0/1 per sample."""
    folder.mkdir()
    entries = {f"vqav2@t{template}": (template, right) for template, right in correct.items()}
    entries |= {task: (default, right) for task, right in (plain or {}).items()}
    tasks = {}
    for entry, (template, right) in entries.items():
        with (folder / f"samples_{entry}.jsonl").open("w", encoding="utf-8") as file:
            for index, score in enumerate(right):
                record = {"sample_id": f"q{index}", "references": ["yes"] * 10,
                          "scores": {"accuracy": float(score)}, "prediction": "yes"}  # fmt: skip
                file.write(json.dumps(record) + "\n")
        tasks[entry] = {
            "task": {"main_metric": "accuracy", "version": "1", "sample_score_scale": 100.0,
                     "protocol": {"name": "idefics2-base", "template_id": template}},
            "data": {"samples": len(right), "split": "val", "scored_samples": len(right)},
            "scores": {"metrics": {"accuracy": 100.0 * sum(right) / len(right)},
                       "breakdowns": {}, "notes": {}},
            "cost": {"visual_tokens_mean": 0, "prompt_tokens_mean": 0,
                     "generated_tokens_mean": 0},
            "timing": {"samples_per_second": None},
            "samples_file": f"samples_{entry}.jsonl",
        }  # fmt: skip
    swept = {"templates": {"vqav2": list(correct)}, "default_templates": {"vqav2": default}}
    results = {
        "tasks": tasks,
        **(swept if correct else {}),
        "config": {"tasks": [*(["vqav2"] if correct else []), *(plain or {})], "model": "hf",
                   "batch_size": 1, "num_fewshot": 0, "seed": 0, "limit": None},
        "model": {},
        "provenance": {"versions": {}, "git_revision": None, "command": [], "hardware": {}},
        "created_at": "2026-12-04T00:00:00+00:00",
        "wall_seconds": 1.0,
    }  # fmt: skip
    (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")


def test_templates_are_tested_against_the_best_with_holm_adjusted_p_values(
    tmp_path: Path,
) -> None:
    # 20 samples. Template 0 answers all, 1 the first 10, 2 all but the last: against template 0,
    # 1 has 10 discordant pairs all one way (exact McNemar p = 2 / 2**10 = 0.001953125), 2 has
    # one (p = 1). Holm over these 2 tests: 2 * 0.00195 = 0.0039, then max(0.0039, 1 * 1) = 1.
    _write_sweep(
        tmp_path / "hand",
        {"0": [1] * 20, "1": [1] * 10 + [0] * 10, "2": [1] * 19 + [0]},
    )
    report = render_markdown(load_runs([tmp_path / "hand"]))
    # scores 100, 50, 95: mean 81.67; sd sqrt(((55/3)**2 + (95/3)**2 + (40/3)**2) / 2) = 27.54
    assert _row(report, "hand") == [
        "hand", "vqav2 (accuracy)", "3", "81.67", "50.00", "100.00", "27.54", "0", "1 of 2",
    ]  # fmt: skip
    best, half, nearly = (_row(report, template) for template in "012")
    assert best[:3] == ["0", "best", "-"] and best[5:] == ["-", "-", "-"]
    assert half[:4] == ["1", "worse", "exact McNemar", "50.00"]
    assert half[5:] == ["-50.00", "0.002", "0.004"]
    assert nearly[:4] == ["2", "no significant difference", "exact McNemar", "95.00"]
    assert nearly[5:] == ["-5.00", "1.000", "1.000"]
    assert best[4] == "[100.00, 100.00]"  # every resample of 20 right answers is 100
    page = render_html(load_runs([tmp_path / "hand"]))
    assert "Prompt sensitivity" in page and '<td class="num">0.004</td>' in page


def _main_table(markdown: str) -> list[str]:
    """The lines of the report's main table (the first table, under the title)."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| run |"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    return lines[start:end]


def test_the_main_table_shows_a_swept_task_once_by_its_default_template(tmp_path: Path) -> None:
    _write_sweep(tmp_path / "sweep", {"0": [1, 0, 0, 0], "9": [1, 1, 1, 0]}, default="9")
    _write_sweep(tmp_path / "no-default", {"0": [1, 1, 0, 0], "4": [0, 0, 0, 0]}, default="9")
    report = render_markdown(load_runs([tmp_path / "sweep", tmp_path / "no-default"]))
    header, _, sweep, no_default = _main_table(report)
    assert header == "| run | model | vqav2 (accuracy) |"  # one column, not one per template
    assert sweep.startswith("| sweep | - | 75.00 [")  # template 9: 3 of 4
    assert no_default == "| no-default | - | - |"  # swept without the default: no score
    assert (
        "stand here, in the breakdowns and the plots as their protocol's default template "
        "(sweep: vqav2 template 9). Swept without it, so not shown there: no-default: vqav2."
    ) in report
    # Every template keeps its score in the prompt-sensitivity section and its cost row.
    assert _row(report, "9", "### sweep: vqav2 by template")[3] == "75.00"
    assert _row(report, "0", "### sweep: vqav2 by template")[3] == "25.00"
    assert _row(report, "no-default", "## Cost")[1] == "vqav2@t0"


def test_a_sweep_counts_once_in_the_leaderboard_by_its_default_template(tmp_path: Path) -> None:
    # Two runs swept over vqav2 templates 0 and 9 (the default), with textvqa run once:
    #   vqav2@t9, 4 samples: b wins all 4;  textvqa, 4 samples: a wins 3, 1 tie -> 3.5 : 0.5
    #   (vqav2@t0, where a wins all 4, is not rated: it would make 7.5 : 4.5, a ahead.)
    # Two players, prior 1 (half a virtual win each): 400 log10((3.5 + 0 + 0.5) /
    # (0.5 + 4 + 0.5)) = 400 log10(4 / 5) = -38.76 apart around 1000: a 980.62, b 1019.38.
    right, wrong = [1, 1, 1, 1], [0, 0, 0, 0]
    _write_sweep(tmp_path / "a", {"0": right, "9": wrong}, "9", plain={"textvqa": [1, 1, 1, 0]})
    _write_sweep(tmp_path / "b", {"0": wrong, "9": right}, "9", plain={"textvqa": wrong})
    _write_sweep(tmp_path / "c", {}, "9", plain={"vqav2": right, "textvqa": wrong})  # b, once
    gap = 200 * math.log10(4 / 5)
    for other in ("b", "c"):  # a sweep meets a sweep, or a run that was not swept, alike
        board = rate_runs(load_runs([tmp_path / "a", tmp_path / other]))
        assert board.rated_tasks == {"vqav2": 4, "textvqa": 4}
        assert [r.rating for r in board.ratings] == pytest.approx([1000 + gap, 1000 - gap])
    rows = [line for line in to_markdown(leaderboard_blocks(board)).splitlines() if "|" in line]
    assert rows[0].endswith("| mean task rank | vqav2 (accuracy) | textvqa (accuracy) |")
    # rank, run, model, rating, interval, mean task rank (2 and 1), vqav2, textvqa
    assert rows[2].startswith("| 1 | c | - | 1019.4 |") and rows[2].endswith(
        "| 1.5 | 100.00 | 0.00 |"
    )
    assert rows[3].startswith("| 1 | a | - | 980.6 |") and rows[3].endswith(
        "| 1.5 | 0.00 | 75.00 |"
    )


def test_compare_meets_a_plain_run_with_the_sweep_entry_of_its_template(tmp_path: Path) -> None:
    # vqav2, 4 samples. The sweep: template 0 none right, 4 one, 9 (the default) all four.
    _write_sweep(tmp_path / "sweep", {"0": [0] * 4, "4": [1, 0, 0, 0], "9": [1] * 4}, "9")
    _write_sweep(tmp_path / "plain", {}, "9", plain={"vqav2": [1, 1, 0, 0]})  # template 9
    _write_sweep(tmp_path / "plain-t4", {}, "4", plain={"vqav2": [1, 1, 0, 0]})  # template 4
    sweep, plain, plain_t4 = load_runs([tmp_path / n for n in ("sweep", "plain", "plain-t4")])

    comparison = compare_runs(plain, sweep)
    (task,) = comparison.tasks
    assert (task.task, task.entries) == ("vqav2", ("vqav2", "vqav2@t9"))
    # 50 -> 100: 2 samples flip, both up: exact McNemar p = 2 / 2**2 = 0.5
    assert (task.base_score, task.new_score, task.delta) == (50.0, 100.0, 50.0)
    assert task.p_value == pytest.approx(0.5)
    assert comparison.only_in_base == ()
    assert comparison.only_in_new == ("vqav2@t0", "vqav2@t4")
    markdown = to_markdown(comparison_blocks(comparison))
    assert (
        "| vqav2: plain's vqav2 against sweep's vqav2@t9: template 9 of the sweep, the one "
        "plain ran |" in markdown
    )
    assert "| vqav2@t0: only in sweep |" in markdown and "| vqav2@t4: only in sweep |" in markdown

    # A plain run of another template meets that template; the other way round, the same.
    (task,) = compare_runs(sweep, plain_t4).tasks
    assert (task.entries, task.base_score, task.new_score) == (("vqav2@t4", "vqav2"), 25.0, 50.0)
    assert task.matched == (
        "sweep's vqav2@t4 against plain-t4's vqav2: template 4 of the sweep, the one plain-t4 ran"
    )

    # A gate from the sweep to a plain run: the other templates are missing from it, unless
    # --allow-missing names them or their task.
    def gate(*allowed: str) -> tuple[int, str]:
        result = CliRunner().invoke(
            main,
            ["compare", str(tmp_path / "sweep"), str(tmp_path / "plain"), "--fail-if-drop", "1",
             *(arg for name in allowed for arg in ("--allow-missing", name))],
        )  # fmt: skip
        return result.exit_code, result.output

    code, output = gate()
    assert code == 1
    assert "vqav2@t0 (missing from plain), vqav2@t4 (missing from plain)" in output
    assert gate("vqav2@t0")[0] == 1
    assert gate("vqav2@t0", "vqav2@t4")[0] == 0
    assert gate("vqav2")[0] == 0


def test_holm_adjustment_by_hand() -> None:
    # sorted 0.01, 0.02, 0.04 -> 3 * 0.01, max(0.03, 2 * 0.02), max(0.04, 1 * 0.04)
    assert holm_adjusted([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm_adjusted([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm_adjusted([]) == []
    assert math.isclose(holm_adjusted([0.2])[0], 0.2)


def test_a_results_file_missing_a_templates_entry_is_refused(tmp_path: Path) -> None:
    _write_sweep(tmp_path / "hand", {"0": [1, 0], "1": [0, 1]})
    results = json.loads((tmp_path / "hand" / "results.json").read_text(encoding="utf-8"))
    results["templates"]["vqav2"].append("7")
    (tmp_path / "hand" / "results.json").write_text(json.dumps(results), encoding="utf-8")
    result = CliRunner().invoke(main, ["report", str(tmp_path / "hand")])
    assert result.exit_code != 0 and "'vqav2@t7' has no entry" in result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "protocol 'chat' has no vqa templates to choose from; protocols that have "
             "several: idefics2-base\n"),
        (["--protocol", "idefics2-base", "--templates", "4,99"],
         "task vqav2: --templates: protocol 'idefics2-base' has no vqa template '99'"),
        (["--protocol", "idefics2-base", "--protocol-args", "vqa_template=4"],
         "give no vqa_template option as well"),
        (["--protocol", "openflamingo"],
         "protocol 'openflamingo' has a single vqa template ('openflamingo') to choose from"),
        (["--protocol", "idefics2-instruct", "--templates", "0"],
         "protocol 'idefics2-instruct' has a single vqa template ('0') to choose from"),
    ],
)  # fmt: skip
def test_sweeps_a_protocol_cannot_run_are_usage_errors_before_the_weights_load(
    arguments: list[str],
    message: str,
    tiny_model_dir: Path,
    mini_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import vlm_eval.models._hf as hf

    loads: list[str] = []
    monkeypatch.setattr(
        hf.AutoModelForImageTextToText,
        "from_pretrained",
        lambda *args, **kwargs: loads.append("weights"),
    )
    arguments = arguments if "--templates" in arguments else [*arguments, "--templates", "all"]
    result = CliRunner().invoke(
        main,
        [
            "run", "--model-args", f"pretrained={tiny_model_dir},device=cpu",
            "--tasks", "vqav2", "--data-dir", str(mini_data), "--output", str(tmp_path / "x"),
            *arguments,
        ],
    )  # fmt: skip
    assert result.exit_code == 2, result.output  # a usage error, as other bad arguments
    assert message in result.output and loads == []
    assert result.output.split("Error: ", 1)[1].count("\n") == 1  # a one-line message
    assert not (tmp_path / "x" / "results.json").exists()
    shutil.rmtree(tmp_path / "x", ignore_errors=True)
