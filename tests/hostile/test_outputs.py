"""What the report commands write: control and bidi characters made visible, results without
the fields of a local checkpoint (served models), the compare gate on a missing task, and files
that cannot be written (a full disk)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hostile._run_folders import RUNS, STEPS, assert_clean_failure, copy_run, invoke
from vlm_eval.report import escape_cell
from vlm_eval.report._document import Code, Fact, FactList, Heading, Paragraph, table, to_markdown
from vlm_eval.report._html import to_html

HIDDEN = {"Cc", "Cf", "Zl", "Zp", "Cs"}
"""Categories of characters that must never reach a report raw: controls (ESC, BEL, NUL, DEL,
C1), format characters (bidi overrides, zero-width), line and paragraph separators, surrogates."""

# The characters named in the issue, with the escape each is shown as.
NAMED = {
    "\x00": "\\x00",
    "\x07": "\\x07",
    "\x08": "\\x08",
    "\x1b": "\\x1b",
    "\x7f": "\\x7f",
    "\x85": "\\x85",
    "\x9b": "\\x9b",
    "\u061c": "\\u061c",
    "\u200e": "\\u200e",
    "\u200f": "\\u200f",
    **{chr(c): f"\\u{c:04x}" for c in range(0x202A, 0x202F)},
    **{chr(c): f"\\u{c:04x}" for c in range(0x2066, 0x206A)},
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
    **{chr(c): f"\\u{c:04x}" for c in (0xD800, 0xDBFF, 0xDC00, 0xDFFF)},  # lone surrogates
    "\U000e0041": "\\U000e0041",  # a tag character (Cf)
}


def _raw_hidden(text: str, allowed: str = "\n") -> list[str]:
    return [c for c in text if c not in allowed and unicodedata.category(c) in HIDDEN]


@pytest.mark.parametrize("char", NAMED)
def test_each_hidden_character_is_shown_as_its_escape(char: str) -> None:
    escape = NAMED[char]
    # In markdown the escape's backslash is itself escaped: rendered, it reads \x1b.
    assert escape_cell(f"a{char}b") == f"a\\{escape}b"
    markdown = to_markdown([Heading(f"h{char}"), Paragraph((f"p{char}", Code(f"c{char}")))])
    assert markdown == f"## h\\{escape}\n\np\\{escape}`c{escape}`\n"
    page = to_html([Paragraph((f"p{char}",))], title=f"t{char}")
    assert f"<p>p{escape}</p>" in page and f"<title>t{escape}</title>" in page
    assert not _raw_hidden(page)
    page.encode("utf-8")


_TEXT = st.text(
    st.one_of(
        st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Cs"]),
        st.characters(exclude_categories=[]),  # any code point, lone surrogates included
        st.sampled_from(list("|\\`*_~[]()<>&#!- \t\n\r")),
    ),
    max_size=24,
)


def _pipes(line: str) -> int:
    """Cell delimiters of a markdown table line: pipes not escaped by a backslash."""
    return sum(token == "|" for token in re.findall(r"\\.|\|", line))


@settings(deadline=None, max_examples=300)
@given(
    header=st.lists(_TEXT, min_size=1, max_size=4),
    cells=st.lists(st.lists(_TEXT, min_size=4, max_size=4), max_size=3),
    title=_TEXT,
    code=_TEXT,
)
def test_no_hidden_character_reaches_the_markdown_and_tables_keep_their_columns(
    header: list[str], cells: list[list[str]], title: str, code: str
) -> None:
    rows = [row[: len(header)] for row in cells]
    table_lines = to_markdown([table(header, rows)]).rstrip("\n").split("\n")
    assert len(table_lines) == 2 + len(rows)
    for line in table_lines:
        assert line.startswith("| ") and line.endswith(" |"), line
        assert _pipes(line) == len(header) + 1, line
    markdown = to_markdown(
        [
            Heading(title),
            Paragraph((title, Code(code), title)),
            table(header, rows),
            FactList((Fact(title, (Code(code), title), (title,)),)),
        ]
    )
    assert not _raw_hidden(markdown), markdown
    markdown.encode("utf-8")  # no lone surrogate left
    blocks = [Heading(title), Paragraph((title, Code(code))), table(header, rows)]
    page = to_html(blocks, title=code)
    assert not _raw_hidden(page, allowed="\t\n\r"), page
    assert page.count("<td") == sum(map(len, rows)) and "<script" not in page.lower()
    page.encode("utf-8")


def _set_prediction(run: Path, text: str) -> None:
    """Make ``text`` the prediction of q08 (which step-2000 gets right and step-1000 not)."""
    samples = run / "samples_vqav2.jsonl"
    lines = samples.read_text(encoding="utf-8").split("\n")
    records = [json.loads(line) for line in lines if line]
    records[8]["prediction"] = text
    samples.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_terminal_escapes_in_a_prediction_are_shown_not_sent(tmp_path: Path) -> None:
    run = copy_run(tmp_path / "run")
    _set_prediction(run, "no\x1b[2J\x07\x00\u202eyes\ud800")
    summary = tmp_path / "summary.md"
    result = invoke("compare", run, STEPS[1], env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("| q08 |"))
    assert "| no\\\\x1b[2J\\\\x07\\\\x00\\\\u202eyes\\\\ud800 |" in row
    for text in (result.output, summary.read_text(encoding="utf-8")):
        assert not _raw_hidden(text)


def test_the_score_table_shows_hidden_characters(tmp_path: Path) -> None:
    reference = RUNS.parent / "reference" / "vqav2"
    annotations = json.loads(
        (reference / "v2_mscoco_val2014_annotations_first100.json").read_text()
    )
    annotations["annotations"][0]["question_type"] = "what\x1b]0;pwned\x07 is"
    (tmp_path / "a.json").write_text(json.dumps(annotations))
    predictions = [
        {"question_id": a["question_id"], "answer": a["multiple_choice_answer"]}
        for a in annotations["annotations"]
    ]
    (tmp_path / "p.json").write_text(json.dumps(predictions))
    questions = reference / "v2_OpenEnded_mscoco_val2014_questions_first100_STUB.json"
    result = invoke(
        "score", "--task", "vqav2", "--questions", questions, "--annotations",
        tmp_path / "a.json", "--predictions", tmp_path / "p.json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "| question_type: what\\\\x1b]0;pwned\\\\x07 is |" in result.output
    assert not _raw_hidden(result.output)


def _served(results: dict[str, Any]) -> None:
    """The results of an ``openai`` run: no checkpoint, parameters, device or hash."""
    results["config"]["model"] = "openai"
    results["config"]["model_args"] = {"base_url": "http://localhost:8000/v1", "model": "qwen"}
    results["model"] = {
        "adapter": "openai",
        "base_url": "http://localhost:8000/v1",
        "model": "qwen",
        "server_model": "Qwen/Qwen2-VL-7B-Instruct",
        "image_format": "png",
    }
    results["provenance"]["git_revision"] = None
    results["provenance"]["hardware"] = {"platform": "Linux", "cpu_count": None}


@pytest.mark.parametrize("command", ["report", "compare", "leaderboard"])
def test_reports_of_a_served_model_show_what_it_has_and_never_none(
    tmp_path: Path, command: str
) -> None:
    served = copy_run(tmp_path / "served", edit=_served)
    other = copy_run(tmp_path / "other", edit=_served, source=STEPS[1])
    result = invoke(command, served, other, "--resamples", "10")
    assert result.exit_code == 0, result.output
    assert "None" not in result.output
    if command == "compare":
        return  # the comparison shows no model
    row = next(line for line in result.output.splitlines() if "| served |" in line)
    assert "| qwen |" in row
    if command == "report":
        model = next(line for line in result.output.splitlines() if line.startswith("- **model**"))
        assert model == (
            "- **model**: `qwen` (adapter `openai`), served by `http://localhost:8000/v1` as "
            "`Qwen/Qwen2-VL-7B-Instruct`, images sent as png"
        )
        assert "- **settings**: batch size 32, 0-shot, seed 1234, no limit" in result.output


def test_older_results_compare_without_none() -> None:
    result = invoke("compare", RUNS / "base", RUNS / "new")
    assert result.exit_code == 0, result.output
    assert "None" not in result.output


def test_the_run_command_prints_hidden_characters_escaped(
    monkeypatch: pytest.MonkeyPatch, mini_data: Path, tmp_path: Path
) -> None:
    results = json.loads((RUNS / "base" / "results.json").read_text())
    _served(results)
    results["model"]["model"] = "evil\x1b[2J\u202emodel"
    monkeypatch.setattr("vlm_eval.runner.run_evaluation", lambda config: results)
    result = invoke("run", "--tasks", "vqav2", "--data-dir", mini_data, "--output", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert "| o | evil\\\\x1b[2J\\\\u202emodel |" in result.output
    assert not _raw_hidden(result.output) and "None" not in result.output


def _without_pope(results: dict[str, Any]) -> None:
    results["config"]["tasks"] = ["vqav2"]
    del results["tasks"]["pope"]


def test_the_gate_fails_on_a_task_new_did_not_run(tmp_path: Path) -> None:
    new = copy_run(tmp_path / "new", edit=_without_pope, source=STEPS[1])
    result = invoke("compare", STEPS[0], new, "--fail-if-drop", "1")
    assert_clean_failure(
        result,
        "Gate (--fail-if-drop 1): FAILED: pope (missing from new).",
        "--fail-if-drop 1: 1 task(s) failed the gate: pope (missing from new)",
        "--allow-missing",
    )
    # naming another task does not excuse it
    result = invoke("compare", STEPS[0], new, "--fail-if-drop", "1", "--allow-missing", "vqav2")
    assert_clean_failure(result, "pope (missing from new)")


def test_the_gate_passes_a_missing_task_the_user_allows(tmp_path: Path) -> None:
    new = copy_run(tmp_path / "new", edit=_without_pope, source=STEPS[1])
    result = invoke("compare", STEPS[0], new, "--fail-if-drop", "1", "--allow-missing", "pope")
    assert result.exit_code == 0, result.output
    assert "Gate (--fail-if-drop 1): passed" in result.output
    assert "pope: only in step-1000" in result.output
    # without a gate, a missing task is only listed
    assert invoke("compare", STEPS[0], new).exit_code == 0
    result = invoke("compare", STEPS[0], new, "--allow-missing", "pope")
    assert result.exit_code == 2 and "--fail-if-drop" in result.output


# Writes past RLIMIT_FSIZE fail with EFBIG, as a full disk fails them with ENOSPC: the same
# OSError from write(2), on a real file, wherever the command writes its temporary file.
_LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))
from vlm_eval.cli import main
main(sys.argv[1:], prog_name="vlm-eval")
"""


def _reference(name: str) -> Path:
    return RUNS.parent / "reference" / "vqav2" / name


@pytest.mark.parametrize(
    "command",
    [
        ["report", STEPS[0], "--output"],
        ["report", STEPS[0], "--format", "html", "--output"],
        ["compare", STEPS[0], STEPS[1], "--output"],
        ["leaderboard", STEPS[0], STEPS[1], "--output"],
        [
            "score", "--task", "vqav2",
            "--questions", _reference("v2_OpenEnded_mscoco_val2014_questions_first100_STUB.json"),
            "--annotations", _reference("v2_mscoco_val2014_annotations_first100.json"),
            "--predictions", _reference("v2_mscoco_val2014_annotations_first100.json"),
            "--json",
        ],
    ],
    ids=["report", "report-html", "compare", "leaderboard", "score"],
)  # fmt: skip
def test_a_full_disk_leaves_the_previous_file_and_says_which(
    tmp_path: Path, command: list[str | Path]
) -> None:
    target = tmp_path / "out" / "written.txt"
    target.parent.mkdir()
    target.write_text("previous\n")
    args = [str(arg) for arg in command]
    if args[0] == "score":  # predictions in the official format, from the annotations
        annotations = json.loads(Path(args[args.index("--annotations") + 1]).read_text())
        predictions = tmp_path / "p.json"
        predictions.write_text(
            json.dumps(
                [
                    {"question_id": a["question_id"], "answer": a["multiple_choice_answer"]}
                    for a in annotations["annotations"]
                ]
            )
        )
        args[args.index("--predictions") + 1] = str(predictions)
    finished = subprocess.run(
        [sys.executable, "-c", _LIMITED, *args, str(target)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 1, finished.stderr
    assert "Traceback" not in finished.stderr
    assert f"Error: cannot write {target}: File too large" in finished.stderr
    assert target.read_text() == "previous\n"
    assert [p.name for p in target.parent.iterdir()] == ["written.txt"]  # no partial file


def test_an_output_that_cannot_be_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "report.md"
    result = invoke("report", STEPS[0], "--resamples", "10", "--output", target)
    assert_clean_failure(result, f"Error: cannot write {target}: ")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    ("new", "points", "code"), [(STEPS[1], "40", 0), (STEPS[2], "5", 1)], ids=["passes", "fails"]
)
def test_a_summary_that_cannot_be_written_keeps_the_gate_verdict(
    new: Path, points: str, code: int
) -> None:
    result = invoke(
        "compare", STEPS[0] if code == 0 else STEPS[1], new, "--fail-if-drop", points,
        env={"GITHUB_STEP_SUMMARY": "/dev/full"},
    )  # fmt: skip
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit) or result.exception is None
    assert "Traceback" not in result.output
    assert "cannot append the comparison to $GITHUB_STEP_SUMMARY (/dev/full): " in result.output
    assert ("failed the gate" in result.output) == (code == 1)
    assert f"Gate (--fail-if-drop {points}): " in result.output  # the report itself was written
