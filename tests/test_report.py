"""Markdown reports from fixed results files (tests/data/runs, hand-written)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from vlm_eval.data import DataFormatError
from vlm_eval.report import Bootstrap, Run, escape_cell, load_runs, render_html, render_markdown
from vlm_eval.report._document import Code, Paragraph, to_markdown
from vlm_eval.results import RunResults

RUNS = Path(__file__).parent / "data" / "runs"


@pytest.fixture(scope="module")
def report() -> str:
    return render_markdown(load_runs([RUNS / "base", RUNS / "new"]), title="Compare", note="a|b")


def test_summary_has_runs_as_rows_and_main_metrics_as_columns(report: str) -> None:
    lines = report.splitlines()
    start = lines.index("| run | model | vqav2 (accuracy) | coco_caption (CIDEr) |")
    assert lines[start : start + 4] == [
        "| run | model | vqav2 (accuracy) | coco_caption (CIDEr) |",
        "| --- | --- | ---: | ---: |",
        "| base | HuggingFaceM4/idefics2-8b | 80.81 | 116.04 |",
        "| new | ckpt\\|step-1000 &lt;script&gt;alert(1)&lt;/script&gt; | 81.00 | 115.50 |",
    ]
    assert lines[:3] == ["# Compare", "", "a\\|b"]


def test_breakdowns_list_every_group_of_every_run(report: str) -> None:
    assert "### vqav2: accuracy by answer_type" in report
    assert "| run | number | other | yes/no |" in report
    assert "| base | 60.50 | 72.25 | 95.00 |" in report
    assert "| new | - | 73.00 | 95.12 |" in report
    assert "### coco_caption: all metrics" in report
    assert "| base | 30.12 | 116.04 |" in report


def test_cost_and_provenance_are_reported(report: str) -> None:
    assert "| base | vqav2 | 214354 | 0 | 64.0 | 90.5 | 2.2 | 61.24 |" in report
    assert (
        "8,402,000,000 parameters, bfloat16 on cuda, weights sha256 `ab12`, family `idefics`, "
        "do_image_splitting `True`"
    ) in report
    assert "note: SPICE skipped: needs Stanford CoreNLP 3.6.0 jars" in report
    assert "vlm-eval revision `deadbeef`" in report
    vqav2_lines = [line for line in report.splitlines() if line.startswith("- **vqav2**")]
    assert vqav2_lines[0].endswith("split `val2014` of `/data/vqav2`")  # older results: no choices
    new_vqav2 = vqav2_lines[1]
    assert new_vqav2.endswith(
        ", vqa_mode `official`, vqa_metric `GT-Vision-Lab/VQA vqaEval.py, 2021 revision`"
    )
    assert "<script>" not in report


def test_failed_samples_are_counted_and_the_first_ones_listed() -> None:
    base, new = load_runs([RUNS / "base", RUNS / "new"])
    results = base.results.to_json()
    entry = results["tasks"]["vqav2"]
    entry["data"]["failed"] = 25
    entry["failures"] = [
        {"sample_id": str(i), "error": f"cannot read image /d/{i}|x.jpg: No such file"}
        for i in range(25)
    ]
    base = Run(base.label, base.path, RunResults.from_json(results))
    report = render_markdown([base, new])
    assert "| base | vqav2 | 214354 | 25 | 64.0 |" in report
    new_row = next(line for line in report.splitlines() if line.startswith("| new | vqav2 |"))
    assert new_row.split(" | ")[3] == "0"  # older results record no failures
    failures = report.split("## Failures\n\n", 1)[1].split("\n\n## Runs", 1)[0]
    assert failures.startswith("### base: vqav2, 25 of 214354 samples failed\n\n")
    assert "| 0 | cannot read image /d/0\\|x.jpg: No such file |" in failures
    assert "| 19 | cannot read image /d/19\\|x.jpg" in failures
    assert "| 20 |" not in failures
    assert failures.endswith("The first 20 are listed; `results.json` has all.")
    assert "## Failures" not in render_markdown([new])


def test_cells_cannot_break_the_table() -> None:
    assert escape_cell("a|b\nc") == "a\\|b c"
    assert escape_cell("<b>x</b>") == "&lt;b&gt;x&lt;/b&gt;"
    # emphasis, code, strike-through and links stay literal; "_" inside words needs no escape
    assert escape_cell("*x* _y_ `z` ~~s~~ [a](b) snake_case") == (
        "\\*x\\* \\_y\\_ \\`z\\` \\~\\~s\\~\\~ [a]\\(b) snake_case"
    )


def test_code_spans_hold_backticks_and_never_raw_html() -> None:
    blocks = [
        Paragraph(("model ", Code("a`b"), ", path ", Code("`x`"), ", name ", Code("<i>n</i>"))),
    ]
    assert to_markdown(blocks) == "model ``a`b``, path `` `x` ``, name &lt;i&gt;n&lt;/i&gt;\n"


def test_a_folder_without_results_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no results file: is this a vlm-eval run folder"):
        load_runs([tmp_path])
    (tmp_path / "results.json").write_text("{")
    with pytest.raises(DataFormatError, match=r"results\.json: not valid JSON"):
        load_runs([tmp_path])


STEPS = [RUNS / f"step-{step}" for step in (1000, 2000, 3000)]


def _summary_cells(report: str, run: str) -> list[str]:
    line = next(line for line in report.splitlines() if line.startswith(f"| {run} |"))
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def test_main_metrics_come_with_bootstrap_intervals() -> None:
    report = render_markdown(load_runs(STEPS))
    assert "| run | model | vqav2 (accuracy) | pope (accuracy) |" in report
    for run, vqav2, pope, right in [
        ("step-1000", 62.5, 75.0, 150),
        ("step-2000", 77.5, 77.5, 155),
        ("step-3000", 44.5, 57.5, 115),
    ]:
        cells = _summary_cells(report, run)
        for cell, score in zip(cells[2:], (vqav2, pope), strict=True):
            value, low, high = cell.replace("[", "").replace("]", "").replace(",", "").split()
            assert float(value) == score and float(low) < score < float(high)
        # pope is exact match on 200 samples: close to the normal approximation p +- 1.96 se
        p = right / 200
        half = 196 * math.sqrt(p * (1 - p) / 200)
        low, high = (float(x) for x in cells[3].split(" ", 1)[1].strip("[]").split(", "))
        assert low == pytest.approx(100 * p - half, abs=1.0)
        assert high == pytest.approx(100 * p + half, abs=1.0)
    assert (
        "Brackets: 95% confidence interval: percentile bootstrap over the scored samples "
        "(1000 resamples, seed 0)." in report
    )


def test_intervals_are_reproducible_and_follow_the_bootstrap_settings() -> None:
    runs = load_runs(STEPS)
    assert render_markdown(runs) == render_markdown(runs)
    other = render_markdown(runs, bootstrap=Bootstrap(resamples=200, seed=7))
    assert "(200 resamples, seed 7)" in other
    assert (
        _summary_cells(other, "step-1000")[2]
        != _summary_cells(render_markdown(runs), "step-1000")[2]
    )


def test_results_without_sample_scores_get_no_interval(report: str) -> None:
    assert "| base | HuggingFaceM4/idefics2-8b | 80.81 | 116.04 |" in report
    assert "Brackets" not in report


def test_the_html_report_embeds_the_plots() -> None:
    page = render_html(load_runs(STEPS), title="Steps & <runs>")
    assert page.startswith("<!DOCTYPE html>") and "<title>Steps &amp; &lt;runs&gt;</title>" in page
    assert page.count('<img src="data:image/png;base64,') == 3
    assert page.count("<table>") == 4  # summary, answer and question types, cost


def test_without_matplotlib_the_html_report_says_how_to_get_plots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    for module in ("vlm_eval.report._figures", "vlm_eval.report._plots"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    page = render_html(load_runs(STEPS))
    assert "<img" not in page and page.count("<table>") == 4
    assert "No plots: they need matplotlib" in page
    assert "vlm-eval[plots]" in page


def test_checkpoints_are_plotted_in_the_natural_order_of_their_names() -> None:
    from vlm_eval.report._figures import _natural_key

    labels = ["step-10000", "step-2000", "final", "step-1000"]
    assert sorted(labels, key=_natural_key) == ["final", "step-1000", "step-2000", "step-10000"]


def test_the_command_line_is_in_the_provenance() -> None:
    (run,) = load_runs([STEPS[0]])
    run.results.provenance["command"] = ["/venv/bin/vlm-eval", "run", "--note", "a b"]
    assert "- **command**: `vlm-eval run --note 'a b'`" in render_markdown([run])


def test_a_blind_model_is_named_so(tmp_path: Path) -> None:
    results = json.loads((RUNS / "base" / "results.json").read_text())
    results["model"]["blind"] = True
    (tmp_path / "blind").mkdir()
    (tmp_path / "blind" / "results.json").write_text(json.dumps(results))
    report = render_markdown(load_runs([RUNS / "base", tmp_path / "blind"]), title="t")
    assert "| base | HuggingFaceM4/idefics2-8b | 80.81 |" in report
    assert "| blind | HuggingFaceM4/idefics2-8b (blind) | 80.81 |" in report
