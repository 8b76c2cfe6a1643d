"""Malformed run folders: every reader refuses them with the file, the record or line, and the
field, through a clean command-line error (status 1, no traceback), never a crash."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.hostile._run_folders import STEPS, assert_clean_failure, copy_run, invoke

COMMANDS: dict[str, Callable[[Path], list[str | Path]]] = {
    "report": lambda run: ["report", run, "--resamples", "10"],
    "compare": lambda run: ["compare", run, STEPS[1], "--resamples", "10"],
    "leaderboard": lambda run: ["leaderboard", run, STEPS[1], "--resamples", "10"],
}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """An edit setting the field at dotted ``path`` (``tasks.vqav2.data.samples``)."""
    *parents, last = path.split(".")

    def edit(results: dict[str, Any]) -> None:
        for key in parents:
            results = results[key]
        results[last] = value

    return edit


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def edit(results: dict[str, Any]) -> None:
        for key in parents:
            results = results[key]
        del results[last]

    return edit


VQAV2 = "tasks.vqav2"

# (edit of results.json, the field the error names)
RESULTS_CASES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "tasks missing": (_delete("tasks"), "tasks"),
    "tasks a list": (_set("tasks", []), "tasks"),
    "task entry a string": (_set(VQAV2, "x"), VQAV2),
    "task entry a list": (_set(VQAV2, [1, 2]), VQAV2),
    "task block missing": (_delete(f"{VQAV2}.task"), f"{VQAV2}.task"),
    "data block missing": (_delete(f"{VQAV2}.data"), f"{VQAV2}.data"),
    "main metric missing": (_delete(f"{VQAV2}.task.main_metric"), f"{VQAV2}.task.main_metric"),
    "main metric a number": (_set(f"{VQAV2}.task.main_metric", 3), f"{VQAV2}.task.main_metric"),
    "sample count missing": (_delete(f"{VQAV2}.data.samples"), f"{VQAV2}.data.samples"),
    "sample count a string": (_set(f"{VQAV2}.data.samples", "20"), f"{VQAV2}.data.samples"),
    "sample count a bool": (_set(f"{VQAV2}.data.samples", True), f"{VQAV2}.data.samples"),
    "sample count negative": (_set(f"{VQAV2}.data.samples", -1), f"{VQAV2}.data.samples"),
    "scored samples a string": (
        _set(f"{VQAV2}.data.scored_samples", "all"),
        f"{VQAV2}.data.scored_samples",
    ),
    "scores a string": (_set(f"{VQAV2}.scores", "high"), f"{VQAV2}.scores"),
    "metrics missing": (_delete(f"{VQAV2}.scores.metrics"), f"{VQAV2}.scores.metrics"),
    "metrics a list": (_set(f"{VQAV2}.scores.metrics", [62.5]), f"{VQAV2}.scores.metrics"),
    **{
        f"metric {name}": (
            _set(f"{VQAV2}.scores.metrics.accuracy", value),
            f"{VQAV2}.scores.metrics.accuracy",
        )
        for name, value in [
            ("a string", "62.5"),
            ("a bool", True),
            ("null", None),
            ("NaN", math.nan),
            ("Infinity", math.inf),
            ("an object", {"value": 62.5}),
        ]
    },
    "breakdowns a list": (_set(f"{VQAV2}.scores.breakdowns", []), f"{VQAV2}.scores.breakdowns"),
    "breakdown group a string": (
        _set(f"{VQAV2}.scores.breakdowns.answer_type", {"yes/no": "high"}),
        f"{VQAV2}.scores.breakdowns.answer_type.yes/no",
    ),
    "notes a list": (_set(f"{VQAV2}.scores.notes", ["x"]), f"{VQAV2}.scores.notes"),
    "cost missing": (_delete(f"{VQAV2}.cost"), f"{VQAV2}.cost"),
    "cost -Infinity": (
        _set(f"{VQAV2}.cost.visual_tokens_mean", -math.inf),
        f"{VQAV2}.cost.visual_tokens_mean",
    ),
    "cost a string": (
        _set(f"{VQAV2}.cost.prompt_tokens_mean", "many"),
        f"{VQAV2}.cost.prompt_tokens_mean",
    ),
    "timing a list": (_set(f"{VQAV2}.timing", []), f"{VQAV2}.timing"),
    "throughput missing": (
        _delete(f"{VQAV2}.timing.samples_per_second"),
        f"{VQAV2}.timing.samples_per_second",
    ),
    "throughput a string": (
        _set(f"{VQAV2}.timing.samples_per_second", "fast"),
        f"{VQAV2}.timing.samples_per_second",
    ),
    "sample score scale zero": (
        _set(f"{VQAV2}.task.sample_score_scale", 0),
        f"{VQAV2}.task.sample_score_scale",
    ),
    "sample score scale a string": (
        _set(f"{VQAV2}.task.sample_score_scale", "100"),
        f"{VQAV2}.task.sample_score_scale",
    ),
    "failures a string": (_set(f"{VQAV2}.failures", "none"), f"{VQAV2}.failures"),
    "failure without error": (
        _set(f"{VQAV2}.failures", [{"sample_id": "q01"}]),
        f"{VQAV2}.failures[0].error",
    ),
    "failure a string": (_set(f"{VQAV2}.failures", ["q01"]), f"{VQAV2}.failures[0]"),
    "samples file escaping the folder": (
        _set(f"{VQAV2}.samples_file", "../../etc/passwd"),
        f"{VQAV2}.samples_file",
    ),
    "samples file absolute": (
        _set(f"{VQAV2}.samples_file", "/etc/passwd"),
        f"{VQAV2}.samples_file",
    ),
    "samples file in a sub-folder": (
        _set(f"{VQAV2}.samples_file", "sub/samples_vqav2.jsonl"),
        f"{VQAV2}.samples_file",
    ),
    "samples file a number": (_set(f"{VQAV2}.samples_file", 7), f"{VQAV2}.samples_file"),
    "config missing": (_delete("config"), "config"),
    "config tasks missing": (_delete("config.tasks"), "config.tasks"),
    "config tasks a string": (_set("config.tasks", "vqav2"), "config.tasks"),
    "config task without entry": (_set("config.tasks", ["vqav2", "gqa"]), "config.tasks[1]"),
    "config task a number": (_set("config.tasks", ["vqav2", 1]), "config.tasks[1]"),
    "config model a list": (_set("config.model", ["hf"]), "config.model"),
    "config limit a string": (_set("config.limit", "none"), "config.limit"),
    "model a list": (_set("model", []), "model"),
    "model parameters a string": (_set("model.parameters", "8B"), "model.parameters"),
    "model options a list": (_set("model.processor_options", [1]), "model.processor_options"),
    "provenance missing": (_delete("provenance"), "provenance"),
    "command a string": (_set("provenance.command", "vlm-eval run"), "provenance.command"),
    "command of numbers": (_set("provenance.command", ["vlm-eval", 3]), "provenance.command[1]"),
    "GPU list of numbers": (
        _set("provenance.hardware.cuda_devices", [1]),
        "provenance.hardware.cuda_devices[0]",
    ),
    "versions a list": (_set("provenance.versions", ["3.11"]), "provenance.versions"),
    "wall time a string": (_set("wall_seconds", "long"), "wall_seconds"),
    "created_at missing": (_delete("created_at"), "created_at"),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", RESULTS_CASES)
def test_malformed_results_name_the_file_and_field(tmp_path: Path, case: str, command: str) -> None:
    edit, field = RESULTS_CASES[case]
    run = copy_run(tmp_path / "run", edit)
    result = invoke(*COMMANDS[command](run))
    assert_clean_failure(result, f"{run / 'results.json'}, field {field!r}: ")


# results.json as bytes: (content, what the error says)
RAW_RESULTS: dict[str, tuple[bytes, str]] = {
    "a list": (b"[]", "not a JSON object"),
    "a string": (b'"results"', "not a JSON object"),
    "null": (b"null", "not a JSON object"),
    "empty": (b"", "not valid JSON"),
    "truncated": (b'{"tasks": {', "not valid JSON"),
    "not UTF-8": (b'{"created_at": "\xff\xfe"}', "not UTF-8"),
    "Latin-1": ('{"created_at": "café"}'.encode("latin-1"), "not UTF-8"),
    "deeply nested": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "deeply nested object": (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested too deeply"),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", RAW_RESULTS)
def test_results_that_are_not_a_json_object_name_the_file(
    tmp_path: Path, case: str, command: str
) -> None:
    content, problem = RAW_RESULTS[case]
    run = copy_run(tmp_path / "run")
    (run / "results.json").write_bytes(content)
    result = invoke(*COMMANDS[command](run))
    assert_clean_failure(result, f"{run / 'results.json'}: {problem}")


def _record(line: bytes, **changes: Any) -> bytes:
    record = json.loads(line)
    record.update(changes)
    return json.dumps(record).encode()


def _without_scores(line: bytes) -> bytes:
    record = json.loads(line)
    del record["scores"]["accuracy"]
    return json.dumps(record).encode()


# A replacement of line 4 of samples_vqav2.jsonl (sample q03): (line, record, field, problem)
RECORD_CASES: dict[str, tuple[Callable[[bytes], bytes], str, str | None, str]] = {
    "not UTF-8": (lambda _: b'{"sample_id": "q03\xff"}', "record on line 4", None, "not UTF-8"),
    "not JSON": (lambda _: b'{"sample_id": ', "record on line 4", None, "not JSON"),
    "blank": (lambda _: b"", "record on line 4", None, "not JSON"),
    "a list": (lambda _: b"[1, 2]", "record on line 4", None, "not a JSON object"),
    "a string": (lambda _: b'"q03"', "record on line 4", None, "not a JSON object"),
    "deeply nested": (
        lambda _: b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "record on line 4",
        None,
        "nested too deeply",
    ),
    "score missing": (_without_scores, "record on line 4 (sample 'q03')", "scores.accuracy", ""),
    **{
        f"score {name}": (
            lambda line, value=value: _record(line, scores={"accuracy": value}),
            "record on line 4 (sample 'q03')",
            "scores.accuracy",
            "",
        )
        for name, value in [
            ("a string", "1.0"),
            ("a bool", True),
            ("null", None),
            ("NaN", math.nan),
            ("Infinity", math.inf),
            ("a list", [1.0]),
        ]
    },
    "scores a list": (
        lambda line: _record(line, scores=[1.0]),
        "record on line 4 (sample 'q03')",
        "scores",
        "",
    ),
    "sample id missing": (
        lambda line: _record(line, sample_id=None),
        "record on line 4",
        "sample_id",
        "",
    ),
    "sample id a list": (
        lambda line: _record(line, sample_id=["q03"]),
        "record on line 4",
        "sample_id",
        "",
    ),
    "sample id twice": (
        lambda line: _record(line, sample_id="q02"),
        "record on line 4 (sample 'q02')",
        "sample_id",
        "appears twice",
    ),
    "references a string": (
        lambda line: _record(line, references="yes"),
        "record on line 4 (sample 'q03')",
        "references",
        "",
    ),
    "references of objects": (
        lambda line: _record(line, references=[{"answer": "yes"}]),
        "record on line 4 (sample 'q03')",
        "references[0]",
        "",
    ),
    "prompt a string": (
        lambda line: _record(line, prompt="Is it sunny?"),
        "record on line 4 (sample 'q03')",
        "prompt",
        "",
    ),
    "prompt turn a string": (
        lambda line: _record(line, prompt=["Is it sunny?"]),
        "record on line 4 (sample 'q03')",
        "prompt[0]",
        "",
    ),
    "prompt text a number": (
        lambda line: _record(
            line, prompt=[{"role": "user", "content": [{"type": "text", "text": 3}]}]
        ),
        "record on line 4 (sample 'q03')",
        "prompt[0].content[0].text",
        "",
    ),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", RECORD_CASES)
def test_malformed_records_name_the_file_line_and_field(
    tmp_path: Path, case: str, command: str
) -> None:
    replace, record, field, problem = RECORD_CASES[case]
    run = copy_run(tmp_path / "run")
    samples = run / "samples_vqav2.jsonl"
    lines = samples.read_bytes().split(b"\n")
    lines[3] = replace(lines[3])
    samples.write_bytes(b"\n".join(lines))
    result = invoke(*COMMANDS[command](run))
    where = f"{samples}, {record}" + (f", field {field!r}" if field else "")
    assert_clean_failure(result, f"{where}: {problem}")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_samples_file_is_named(tmp_path: Path, command: str) -> None:
    run = copy_run(tmp_path / "run")
    (run / "samples_vqav2.jsonl").unlink()
    result = invoke(*COMMANDS[command](run))
    assert_clean_failure(result, f"{run / 'samples_vqav2.jsonl'}: cannot read the records")


@pytest.mark.parametrize(
    "separator", ["\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c", "\x1e"]
)
def test_records_split_at_newlines_only(tmp_path: Path, separator: str) -> None:
    """JSON strings may hold these unescaped; ``str.splitlines`` would split the record there."""
    run = copy_run(tmp_path / "run")
    samples = run / "samples_vqav2.jsonl"
    lines = samples.read_text(encoding="utf-8").split("\n")
    record = json.loads(lines[8])  # q08, which step-2000 gets right and step-1000 does not
    record["prediction"] = f"no{separator}yes"
    lines[8] = json.dumps(record, ensure_ascii=False)
    samples.write_text("\n".join(lines), encoding="utf-8")
    result = invoke("compare", run, STEPS[1], "--resamples", "10")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("| q08 |"))
    code = ord(separator)
    escape = f"x{code:02x}" if code < 0x100 else f"u{code:04x}"
    assert f"| no\\\\{escape}yes |" in row  # shown as \x0b, its backslash escaped
    assert "| vqav2 | accuracy |" in result.output


def test_a_final_line_without_newline_is_read(tmp_path: Path) -> None:
    run = copy_run(tmp_path / "run")
    samples = run / "samples_vqav2.jsonl"
    samples.write_bytes(samples.read_bytes().rstrip(b"\n"))
    result = invoke("compare", run, STEPS[1], "--resamples", "10")
    assert result.exit_code == 0, result.output
    assert "| vqav2 | accuracy |" in result.output and "| 20 |" in result.output
