"""MMBench's test split: the run writes the workbook the official server takes, one row per
question as asked, circular rotations at the rows of the official shifted copies."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner
from openpyxl import load_workbook

from vlm_eval.cli import main
from vlm_eval.data._mmbench import SUBMISSION_COLUMNS, mmbench_submission_xlsx


def test_cells_are_text_never_formulas_and_xml_safe() -> None:
    rows = [
        {"index": 7, "question": "=1+1", "A": "x\x00y", "B": "\ud800", "prediction": "=A1"},
        {"index": 1000007, "question": "q", "A": "a", "B": "b", "E": "e", "prediction": "B"},
    ]
    workbook = load_workbook(io.BytesIO(mmbench_submission_xlsx(rows)))
    cells = list(workbook.active.iter_rows(values_only=True))
    header = ["index", "question", "hint", "A", "B", "C", "D", "E", "prediction", "category"]
    assert list(cells[0]) == [*header, "l2-category"]
    assert cells[1][:5] == (7, "=1+1", None, "x\ufffdy", "\ufffd")
    assert cells[1][8] == "=A1"
    assert workbook.active.cell(2, 2).data_type == "s"
    frame = pd.read_excel(io.BytesIO(mmbench_submission_xlsx(rows)), dtype=str)
    assert list(frame["prediction"]) == ["=A1", "B"]  # read back as text, not computed


def test_the_test_split_writes_the_official_workbook(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        ["run", "--model-args", f"pretrained={tiny_model_dir},device=cpu,dtype=float32",
         "--tasks", "mmbench", "--data-dir", str(mini_data), "--output", str(output),
         "--data-args", "mmbench:split=TEST_EN", "--batch-size", "8", "--num-workers", "0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entry = json.loads((output / "results.json").read_text(encoding="utf-8"))["tasks"]["mmbench"]
    assert entry["submission_file"] == "submission_mmbench_TEST_EN.xlsx"
    records = [
        json.loads(line)
        for line in (output / "samples_mmbench.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    frame = pd.read_excel(output / entry["submission_file"], dtype=str, keep_default_na=False)
    assert tuple(frame.columns) == SUBMISSION_COLUMNS
    assert len(frame) == len(records) == 6  # 3 questions of 2 options each, every rotation
    for row, record in zip(frame.to_dict("records"), records, strict=True):
        metadata = record["metadata"]
        question, rotation = metadata["question_id"], int(metadata["rotation"])
        assert int(row["index"]) == int(question) + rotation * 1_000_000
        assert row["prediction"] == record["prediction"]
        assert row["question"] == metadata["question"]
        shown = [metadata[letter] for letter in "ABCD" if letter in metadata]
        assert [row[letter] for letter in "ABCD"][: len(shown)] == shown
        assert all(row[letter] == "" for letter in "ABCD"[len(shown) :])
