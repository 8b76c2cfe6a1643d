"""Errors raised while reading evaluation data."""

from __future__ import annotations

from pathlib import Path


class DataFormatError(ValueError):
    """A data file does not follow the expected format.

    The message names the file, the offending record (sample id or index) and the field.
    """

    def __init__(self, path: Path | str, record: str | int | None, field: str | None, problem: str):
        where = f"{path}"
        if record is not None:
            where += f", record {record}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {problem}")
        self.path = Path(path)
        self.record = record
        self.field = field
