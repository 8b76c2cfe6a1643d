"""vlm_eval.results: typed results read back (today's schema, older layouts, unknown versions)
and runs as DataFrames."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from vlm_eval.data import DataFormatError
from vlm_eval.results import (
    MIGRATIONS,
    SCHEMA_VERSION,
    RunResults,
    load_runs,
    migrate,
    read_results,
    sample_records,
)

RUNS = Path(__file__).parent / "data" / "runs"
TODAY = RUNS / "schema-1"
"""A run folder written by the runner of schema version 1 (the demo checkpoint, 3 samples of
vqav2 and coco_caption): it must stay readable."""


def test_a_results_file_of_schema_1_reads_back_typed_and_unchanged() -> None:
    written = json.loads((TODAY / "results.json").read_text())
    results = read_results(TODAY)
    assert results.schema_version == SCHEMA_VERSION == written["schema_version"] == 1
    vqa = results.tasks["vqav2"]
    assert vqa.task.main_metric == "accuracy" and vqa.main_score == pytest.approx(53.3333333)
    assert vqa.data.samples == 3 and vqa.data.failed == 0 and vqa.data.scored_samples == 3
    assert vqa.scores.breakdowns["answer_type"] == {"number": 80.0, "other": 0.0}
    assert vqa.samples_file == "samples_vqav2.jsonl" and vqa.task.sample_score_scale == 100
    assert results.model_label.endswith("vlm_eval/demo/checkpoints/final")
    assert results.to_json() == written  # every field kept: the runner writes through it


def test_older_layouts_of_version_1_are_read_as_today() -> None:
    results = read_results(RUNS / "base" / "results.json")  # data.dir, no failed/samples_file
    data = results.tasks["vqav2"].data
    assert data.location == "/data/vqav2" and "dir" not in data.extra and data.failed == 0
    assert results.tasks["coco_caption"].samples_file == "samples_coco_caption.jsonl"


def _with_version(tmp_path: Path, version: object) -> Path:
    run = tmp_path / "run"
    shutil.copytree(TODAY, run)
    results = json.loads((run / "results.json").read_text())
    (run / "results.json").write_text(json.dumps({**results, "schema_version": version}))
    return run


@pytest.mark.parametrize(
    ("version", "problem"),
    [
        (
            2,
            "version 2 is newer than this vlm-eval reads (1 and older): "
            "upgrade vlm-eval to read it",
        ),
        (0, "no such version: 0 (versions start at 1)"),
        ("1", "not a whole number: '1'"),
    ],
)
def test_an_unknown_schema_version_is_refused_naming_file_and_version(
    tmp_path: Path, version: object, problem: str
) -> None:
    run = _with_version(tmp_path, version)
    with pytest.raises(DataFormatError) as refused:
        read_results(run)
    assert str(refused.value) == f"{run / 'results.json'}, field 'schema_version': {problem}"


def test_older_schema_versions_are_migrated_step_by_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a schema change would: version 2 renames wall_seconds, version 1 files migrate."""
    import vlm_eval.results._read as read

    def rename(results: dict[str, object]) -> dict[str, object]:
        renamed = {k: v for k, v in results.items() if k != "wall_time"}
        return {**renamed, "wall_seconds": results["wall_time"]}

    monkeypatch.setattr(read, "SCHEMA_VERSION", 3)
    monkeypatch.setitem(MIGRATIONS, 1, lambda results: {**results, "wall_time": 1.5})
    monkeypatch.setitem(MIGRATIONS, 2, rename)
    migrated = migrate(json.loads((TODAY / "results.json").read_text()))
    assert migrated["schema_version"] == 3 and migrated["wall_seconds"] == 1.5
    assert "wall_time" not in migrated
    assert RunResults.from_json(migrated).wall_seconds == 1.5


def test_runs_as_dataframes() -> None:
    tables = load_runs([TODAY, RUNS / "base"])
    metrics = tables.metrics
    assert list(metrics.columns[:8]) == [
        "run", "model", "task", "entry", "template", "metric", "value", "main"
    ]  # fmt: skip
    main = metrics[metrics["main"]].set_index(["run", "task"])["value"]
    assert main["schema-1", "vqav2"] == pytest.approx(53.3333333)
    assert main["base", "coco_caption"] == pytest.approx(116.04)
    assert len(metrics[metrics["run"] == "base"]) == 3  # accuracy; BLEU-4, CIDEr
    samples = tables.samples  # base has no records files: rows of schema-1 only
    vqa = samples[samples["entry"] == "vqav2"]
    assert len(vqa) == 3 and vqa["scored"].all() and set(samples["run"]) == {"schema-1"}
    assert vqa["accuracy"].mean() * 100 == pytest.approx(main["schema-1", "vqav2"])
    assert load_runs([TODAY], samples=False).samples.empty


def test_a_sweep_has_a_row_per_template(tmp_path: Path) -> None:
    run = tmp_path / "sweep"
    run.mkdir()
    results = json.loads((TODAY / "results.json").read_text())
    entry = results["tasks"]["vqav2"]
    results["tasks"] = {"vqav2@t1": entry, "vqav2@t4": entry}
    results["config"]["tasks"] = ["vqav2"]
    results["templates"], results["default_templates"] = {"vqav2": ["1", "4"]}, {"vqav2": "4"}
    (run / "results.json").write_text(json.dumps(results))
    metrics = load_runs([run], samples=False).metrics
    assert list(metrics["entry"]) == ["vqav2@t1", "vqav2@t4"]
    assert list(metrics["template"]) == ["1", "4"] and set(metrics["task"]) == {"vqav2"}


def test_a_malformed_record_is_named_in_the_sample_table(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(TODAY, run)
    (run / "samples_vqav2.jsonl").write_text('{"sample_id": [1]}\n')
    with pytest.raises(DataFormatError, match=r"on line 1, field 'sample_id': not a sample id"):
        load_runs([run])


def test_report_format_csv_writes_the_metrics_table(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from vlm_eval.cli import main

    output = tmp_path / "metrics.csv"
    result = CliRunner().invoke(
        main, ["report", "--format", "csv", "--output", str(output), str(TODAY), str(RUNS / "base")]
    )
    assert result.exit_code == 0, result.output
    lines = output.read_text().splitlines()
    assert lines[0] == (
        "run,model,task,entry,template,metric,value,main,samples,failed,scored_samples"
    )
    assert "base,HuggingFaceM4/idefics2-8b,vqav2,vqav2,,accuracy,80.81234,True,214354,0," in lines
    assert len(lines) == 1 + 8 + 3  # schema-1: accuracy and 7 caption metrics; base: 3


def test_csv_cells_that_spreadsheets_would_run_as_formulas_are_made_text(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from vlm_eval.cli import main

    run = tmp_path / "=cmd"
    shutil.copytree(RUNS / "base", run)
    results = json.loads((run / "results.json").read_text())
    results["model"]["pretrained"] = '=HYPERLINK("http://evil","x")'
    (run / "results.json").write_text(json.dumps(results))
    output = tmp_path / "metrics.csv"
    command = ["report", "--format", "csv", "--output", str(output), str(run)]
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(output.read_text().splitlines()))
    assert rows[1][:2] == ["'=cmd", '\'=HYPERLINK("http://evil","x")']
    assert float(rows[1][6]) > 0  # numbers stay numbers


def _records_file(path: Path, tail: bytes) -> Path:
    lines = [json.dumps({"sample_id": f"q{i}", "scores": {"accuracy": 1.0}}) for i in range(3)]
    path.write_bytes("\n".join(lines).encode() + b"\n" + tail)
    return path


def test_records_are_read_and_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    """A run killed while writing a record leaves its line without a newline: not a record."""
    file = _records_file(tmp_path / "samples_vqav2.jsonl", b'{"sample_id": "q3", "sco')
    records = [record for _, record in sample_records(file)]
    assert [record.sample_id for record in records] == ["q0", "q1", "q2"]
    assert [where for where, _ in sample_records(file)][1] == "on line 2 (sample 'q1')"
    whole = _records_file(tmp_path / "whole.jsonl", b'{"sample_id": "q3"}')  # no newline
    assert [record.sample_id for _, record in sample_records(whole)][-1] == "q3"


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (
            b'{"sample_id": "q0"}\n{"sample_id": \n{"sample_id": "q2"}\n',
            "record on line 2: not JSON",
        ),
        (b'{"sample_id": "q0"}\n{"sample_id": "q1\xff"}\n', "record on line 2: not UTF-8 text"),
        (b'{"sample_id": "q0"}\n[1]\n', "record on line 2: not a JSON object"),
        (
            b'{"sample_id": "q0"}\n{"sample_id": "q1", "references": "a"}\n',
            "record on line 2 (sample 'q1'), field 'references'",
        ),
    ],
)
def test_a_bad_line_is_an_error_naming_the_file_and_the_line(
    tmp_path: Path, lines: bytes, problem: str
) -> None:
    """Even the last line, when it ends with a newline: it was written whole."""
    file = tmp_path / "samples_vqav2.jsonl"
    file.write_bytes(lines)
    with pytest.raises(DataFormatError) as error:
        list(sample_records(file))
    assert str(error.value).startswith(f"{file}, {problem}")
