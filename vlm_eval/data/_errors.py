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
        where = _shown(str(path))
        if split is not None:
            where += f", split {split!r}"
        if record is not None:
            where += f", record {_shown(str(record))}"
        if field is not None:
            where += f", field {_shown(repr(field))}"
        super().__init__(f"{where}: {_shown(problem, 1000)}")
        self.path = Path(path)
        self.split = split
        self.record = record
        self.field = field


def _shown(text: str, limit: int = 200) -> str:
    """``text`` fit for a terminal: escaped (``repr``) if it holds characters that are not
    printable (control, bidi, line separators, lone surrogates), cut to ``limit`` characters."""
    if not text.isprintable():
        text = repr(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
