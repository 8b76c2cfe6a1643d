"""`vlm-eval list tasks` names the family and the default data of the document, chart and
multiple-choice tasks added for issue 18."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from vlm_eval.cli import main


@pytest.mark.parametrize(
    ("name", "family", "data"),
    [
        ("chartqa", "DocumentQATask",
         "official files (chartqa/, split test) or hub lmms-lab/ChartQA (split test)"),
        ("infographicvqa", "DocumentQATask",
         "official files (infographicvqa/, split val) or hub lmms-lab/DocVQA (split validation)"),
        ("scienceqa_img", "MultipleChoiceTask",
         "official files (scienceqa_img/, split test) or hub lmms-lab/ScienceQA (split test)"),
        ("aokvqa_mc", "MultipleChoiceTask", "official files (aokvqa_mc/, split val) or hub "
         "HuggingFaceM4/A-OKVQA (split validation)"),
    ],
)  # fmt: skip
def test_list_tasks_shows_family_and_source(name: str, family: str, data: str) -> None:
    result = CliRunner().invoke(main, ["list", "tasks"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    (row,) = [i for i, line in enumerate(lines) if line.startswith(f"{name} ")]
    assert lines[row + 1].split() == f"family {family}; data: {data}".split()
    assert lines[row + 2].strip().endswith(f"tasks/{name}.py")
