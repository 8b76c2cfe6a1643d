"""Reading run folders: ``results.json`` checked, migrated to today's schema and typed; the
records of ``samples_<task>.jsonl``, a line at a time; and the labels runs go by in reports
and tables."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from vlm_eval._run_folder import RESULTS_FILE
from vlm_eval.data import DataFormatError
from vlm_eval.results._model import SCHEMA_VERSION, RunResults, SampleRecord
from vlm_eval.results._schema import Invalid, sample_id, shown

Migration = Callable[[dict[str, Any]], dict[str, Any]]
"""Rewrites the results of one schema version as those of the next."""

MIGRATIONS: dict[int, Migration] = {}
"""Schema version -> the migration to the next one; a change to the results' layout that old
readers cannot take bumps ``SCHEMA_VERSION`` and adds its migration here."""


def migrate(results: dict[str, Any]) -> dict[str, Any]:
    """``results`` of any known schema version as today's (a file without ``schema_version``
    is version 1, the first).

    Raises:
        Invalid: Naming ``schema_version`` if it is no version this vlm-eval reads.
    """
    version = results.get("schema_version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise Invalid("schema_version", f"not a whole number: {shown(version)}")
    if version > SCHEMA_VERSION:
        raise Invalid(
            "schema_version",
            f"version {version} is newer than this vlm-eval reads ({SCHEMA_VERSION} and "
            "older): upgrade vlm-eval to read it",
        )
    if version < 1:
        raise Invalid("schema_version", f"no such version: {version} (versions start at 1)")
    while version < SCHEMA_VERSION:
        results = {**MIGRATIONS[version](results), "schema_version": version + 1}
        version += 1
    return results


def parse_json(text: str, file: Path, record: str | None) -> Any:
    """The JSON of ``text``, a whole file or (``record``: where) one of its lines.

    Raises:
        DataFormatError: If it is not JSON or nests too deeply.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        problem = "not valid JSON" if record is None else "not JSON"
        raise DataFormatError(file, record, None, f"{problem}: {error}") from error
    except RecursionError as error:
        raise DataFormatError(file, record, None, "nested too deeply to read") from error


def read_results(path: Path) -> RunResults:
    """The results of a run folder (or its ``results.json``), migrated to today's schema.

    Raises:
        DataFormatError: If the file cannot be read, is of a schema version this vlm-eval does
            not know, or lacks or malforms a field (named in the message).
    """
    file = path / RESULTS_FILE if path.is_dir() else path
    if not file.is_file():
        raise DataFormatError(file, None, None, "no results file: is this a vlm-eval run folder?")
    try:
        text = file.read_bytes().decode("utf-8")
    except OSError as error:
        raise DataFormatError(file, None, None, f"cannot read it: {error}") from error
    except UnicodeDecodeError as error:
        raise DataFormatError(file, None, None, f"not UTF-8 text (byte {error.start})") from error
    results = parse_json(text, file, None)
    try:
        if isinstance(results, dict) and "tasks" in results:
            results = migrate(results)
        return RunResults.from_json(results)
    except Invalid as error:
        raise DataFormatError(file, None, error.field, error.problem) from error


def run_labels(folders: Sequence[Path]) -> list[str]:
    """The runs' labels: folder names, with their parent folder where two runs share one."""
    names = [folder.name for folder in folders]
    return [
        folder.name if names.count(folder.name) == 1 else f"{folder.parent.name}/{folder.name}"
        for folder in folders
    ]


def numbered_records(file: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """The JSON objects of a ``samples_<task>.jsonl`` with their line numbers, read a line at a
    time (a records file can hold hundreds of megabytes); lines split at ``\\n`` only (JSON
    strings may hold U+2028, U+0085, ... unescaped). A last line without its ``\\n`` that is
    not JSON is a write cut short (a killed run), and is ignored as the runner ignores it.

    Raises:
        DataFormatError: If the file cannot be read or a line is not a JSON object (naming
            the line).
    """
    try:
        with file.open("rb") as stream:
            for line, data in enumerate(stream, start=1):
                where = f"on line {line}"
                try:
                    record = _line_json(data, file, where)
                except DataFormatError:
                    if data.endswith(b"\n"):
                        raise
                    return  # torn: the run was stopped while writing it
                if not isinstance(record, dict):
                    raise DataFormatError(file, where, None, f"not a JSON object: {shown(record)}")
                yield line, record
    except OSError as error:
        raise DataFormatError(file, None, None, f"cannot read the records: {error}") from error


def sample_records(file: Path) -> Iterator[tuple[str, SampleRecord]]:
    """The records of a ``samples_<task>.jsonl``, typed and read a line at a time (see
    ``numbered_records``), each with where it is, for messages: ``on line 4 (sample 'q03')``.

    Raises:
        DataFormatError: If the file cannot be read or a line is not a record (see
            ``_schema``); the message names the line, the sample and the field.
    """
    for line, value in numbered_records(file):
        where = f"on line {line}"
        try:
            sample_id(value.get("sample_id"), "sample_id")
            where += f" (sample {shown(value['sample_id'])})"
            record = SampleRecord.from_json(value)
        except Invalid as error:
            raise DataFormatError(file, where, error.field, error.problem) from error
        yield where, record


def _line_json(data: bytes, file: Path, where: str) -> Any:
    """The JSON of one line of ``file``.

    Raises:
        DataFormatError: If it is not UTF-8 text or not JSON.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataFormatError(file, where, None, "not UTF-8 text") from error
    return parse_json(text, file, where)
