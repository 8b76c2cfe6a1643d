"""Per-sample records on disk: one JSON line per prediction, durable as soon as it is written."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from vlm_eval.data import DataFormatError

SampleRecord = dict[str, Any]
"""One prediction with its prompt, cost and scores (keys documented in the README)."""


class JsonlPredictionStore:
    """Appends records to a JSONL file, flushed and fsynced after every batch.

    Records from an earlier run are read back with ``load`` so that finished work is reused.
    """

    def __init__(self, path: Path):
        self.path = path
        self._stream: TextIO | None = None

    def load(self) -> list[SampleRecord]:
        """Every complete record already in the file; a torn last line (crash) is ignored."""
        if not self.path.exists():
            return []
        records: list[SampleRecord] = []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                if number == len(lines):
                    break
                raise DataFormatError(self.path, f"line {number}", None, str(error)) from error
        return records

    def rewrite(self, records: Iterable[SampleRecord]) -> None:
        """Replace the file's content by ``records`` atomically, then keep it open for appends."""
        self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(self.path.suffix + ".partial")
        with partial.open("w", encoding="utf-8") as stream:
            stream.writelines(_line(record) for record in records)
            stream.flush()
            os.fsync(stream.fileno())
        partial.replace(self.path)
        self._stream = self.path.open("a", encoding="utf-8")

    def append(self, records: Iterable[SampleRecord]) -> None:
        """Write ``records`` and make them durable before returning."""
        if self._stream is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = self.path.open("a", encoding="utf-8")
        self._stream.writelines(_line(record) for record in records)
        self._stream.flush()
        os.fsync(self._stream.fileno())

    def close(self) -> None:
        """Close the file if open."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None


def _line(record: SampleRecord) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
