"""Errors raised while reading evaluation data."""

from __future__ import annotations

from pathlib import Path


class DataFormatError(ValueError):
    """Evaluation data that cannot be read or does not follow the expected format.

    The message names the file (or dataset), the split of a dataset, the offending record (sample
    id or index) and the field.
    """

    def __init__(
        self,
        path: Path | str,
        record: str | int | None,
        field: str | None,
        problem: str,
        *,
        split: str | None = None,
    ):
        where = f"{path}"
        if split is not None:
            where += f", split {split!r}"
        if record is not None:
            where += f", record {record}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {problem}")
        self.path = Path(path)
        self.split = split
        self.record = record
        self.field = field
