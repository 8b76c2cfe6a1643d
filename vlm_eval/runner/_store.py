"""A task's records on disk: one JSON line per prediction, durable as soon as it is written, and
one JSON line per generate call with its time."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TextIO

from vlm_eval._files import jsonl_line, jsonl_lines, write_atomically
from vlm_eval.data import DataFormatError

_PART = re.compile(r"\.rank(\d+)$")
"""The end of a part file's stem (see ``_part_path``)."""

SampleRecord = dict[str, Any]
"""One prediction with its prompt, cost and scores (keys documented in the README)."""


class WriteError(RuntimeError):
    """A run file that cannot be written (full disk, ...); the message names the file and says
    which predictions are safely on disk."""

    def __init__(self, path: Path, error: OSError, saved: str):
        super().__init__(f"cannot write {path}: {error.strerror or error}; {saved}")
        self.path = path


class JsonlPredictionStore:
    """A task's predictions, appended batch by batch and fsynced, and their generation times.

    ``path`` holds one record per prediction; ``timing_path`` one line per generate call (its
    request keys, sample ids, size and seconds). Timing is kept out of the records so that the
    same command writes the same records, byte for byte. Records from an earlier run are read
    back with ``load`` so that finished work is reused.

    With ``part=R`` (rank R of a data-parallel run) records and timing are appended to part
    files of their own, ``<stem>.rankR.jsonl``, so that no two processes write one file;
    ``load`` reads the part files of any rank too, and ``rewrite`` folds them into ``path``.

    ``kept_path`` holds the records of the folder that the current run does not use (another
    ``--limit``, other samples, other settings): a run never deletes a prediction, and ``load``
    reads them back for a later run that needs them.

    Attributes:
        saved: Records known to be durable in the file appended to: rewritten or appended.
    """

    def __init__(self, path: Path, timing_path: Path, kept_path: Path, part: int | None = None):
        self._main = _JsonlFile(path)
        self._kept = _JsonlFile(kept_path)
        self._main_timing = _JsonlFile(timing_path)
        self._records = self._main if part is None else _JsonlFile(_part_path(path, part))
        self._timing = (
            self._main_timing if part is None else _JsonlFile(_part_path(timing_path, part))
        )
        self.saved = 0

    @property
    def path(self) -> Path:
        """The records file."""
        return self._main.path

    @property
    def timing_path(self) -> Path:
        """The batch timing file."""
        return self._main_timing.path

    def load(self) -> list[SampleRecord]:
        """Every complete record already in the file, a part file or the kept file; a torn last
        line (crash) is ignored."""
        files = [*self._with_parts(self._main), self._kept]
        return [record for file in files for record in file.read()]

    def rewrite(
        self, records: Iterable[SampleRecord], on_disk: Sequence[Any] | None = None
    ) -> None:
        """Replace the records by ``records`` and the timing by that of the calls, from the file
        and the part files, that produced any of them, each file atomically; then remove the
        part files. Every other record on disk (``on_disk``, what ``load`` returned if the
        caller has it, else read again) moves to the kept file (first, so that a crash between
        the two leaves a record twice, never nowhere)."""
        records = list(records)
        keys = {record["request_key"] for record in records}
        kept: dict[str, Any] = {}
        for record in self.load() if on_disk is None else on_disk:
            key = record.get("request_key") if isinstance(record, dict) else None
            if isinstance(key, str) and key not in keys:
                kept.setdefault(key, record)
        timing_files = self._with_parts(self._main_timing)
        calls: dict[str, Any] = {}  # by content: a crash before the parts were removed repeats them
        for call in (call for file in timing_files for call in file.read()):
            called = call.get("request_keys") if isinstance(call, dict) else None
            if isinstance(called, list) and any(key in keys for key in called if type(key) is str):
                calls.setdefault(json.dumps(call, sort_keys=True), call)
        parts = [*self._with_parts(self._main)[1:], *timing_files[1:]]
        if kept or self._kept.path.exists():
            with self._writing(self._kept):
                self._kept.replace(kept.values())
        with self._writing(self._main):
            self._main.replace(records)
        with self._writing(self._main_timing):
            self._main_timing.replace(calls.values())
        self.close()
        for part in parts:
            part.path.unlink(missing_ok=True)
        self.saved = len(records) if self._records is self._main else 0

    def append(self, records: Sequence[SampleRecord], seconds: float) -> None:
        """Write ``records``, made by one generate call of ``seconds``, and make them durable
        before returning; then log the call."""
        with self._writing(self._records):
            self._records.append(records)
        self.saved += len(records)
        call = {
            "request_keys": [record["request_key"] for record in records],
            "sample_ids": [record["sample_id"] for record in records],
            "batch_size": len(records),
            "seconds": seconds,
        }
        with self._writing(self._timing):
            self._timing.append([call])

    def close(self) -> None:
        """Close the files if open."""
        self._records.close()
        self._timing.close()

    @staticmethod
    def _with_parts(file: _JsonlFile) -> list[_JsonlFile]:
        """``file``, then its part files in rank order."""
        ranks = {
            int(match[1]): path
            for path in file.path.parent.glob(_part_path(file.path, "*").name)
            if (match := _PART.search(path.stem))
        }
        return [file, *(_JsonlFile(ranks[rank]) for rank in sorted(ranks))]

    @contextmanager
    def _writing(self, file: _JsonlFile) -> Iterator[None]:
        """Turn an ``OSError`` while writing ``file`` into a ``WriteError`` saying what is saved."""
        try:
            yield
        except OSError as error:
            for each in (self._records, self._timing):
                with suppress(OSError):  # closing flushes what is still buffered: it fails too
                    each.close()
            raise WriteError(
                file.path,
                error,
                f"{self.saved} predictions are safely on disk in {self._records.path} (the same "
                "command reuses them)",
            ) from error


def _part_path(path: Path, part: int | str) -> Path:
    """The part file of rank ``part`` (or a glob pattern) of ``path``."""
    return path.with_name(f"{path.stem}.rank{part}{path.suffix}")


class _JsonlFile:
    """A JSONL file: read back ignoring a torn last line, replaced atomically, appended to with
    an fsync."""

    def __init__(self, path: Path):
        self.path = path
        self._stream: TextIO | None = None

    def read(self) -> list[Any]:
        if not self.path.exists():
            return []
        items: list[Any] = []
        try:
            lines = list(jsonl_lines(self.path.read_bytes()))
        except OSError as error:
            raise DataFormatError(self.path, None, None, f"cannot read: {error}") from error
        for number, line in lines:
            try:
                if line is None:
                    raise ValueError("not UTF-8 text")
                items.append(json.loads(line))
            except (ValueError, RecursionError) as error:
                if number == len(lines):
                    break
                problem = f"not a JSON record ({error}): fix or delete this line"
                raise DataFormatError(self.path, f"on line {number}", None, problem) from error
        return items

    def replace(self, items: Iterable[Any]) -> None:
        self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, map(jsonl_line, items))

    def append(self, items: Iterable[Any]) -> None:
        if self._stream is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = self.path.open("a", encoding="utf-8")
        self._stream.writelines(map(jsonl_line, items))
        self._stream.flush()
        os.fsync(self._stream.fileno())

    def close(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            stream.close()


def saved_predictions(output_dir: Path) -> dict[str, int]:
    """Task name -> complete lines (records) in each ``samples_<task>.jsonl`` of a run folder and
    its part files."""
    counts: Counter[str] = Counter()
    for path in sorted(output_dir.glob("samples_*.jsonl")):
        task = _PART.sub("", path.stem).removeprefix("samples_")
        with suppress(OSError):  # unreadable (a directory ...): the error that stopped the run says
            counts[task] += path.read_bytes().count(b"\n")
    return dict(counts)
