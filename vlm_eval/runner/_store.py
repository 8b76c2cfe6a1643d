"""A task's records on disk: one JSON line per prediction, durable as soon as it is written, and
one JSON line per generate call with its time."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TextIO

from vlm_eval.data import DataFormatError

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

    Attributes:
        saved: Records known to be durable in ``path``: read back, rewritten or appended.
    """

    def __init__(self, path: Path, timing_path: Path):
        self._records = _JsonlFile(path)
        self._timing = _JsonlFile(timing_path)
        self.saved = 0

    @property
    def path(self) -> Path:
        """The records file."""
        return self._records.path

    @property
    def timing_path(self) -> Path:
        """The batch timing file."""
        return self._timing.path

    def load(self) -> list[SampleRecord]:
        """Every complete record already in the file; a torn last line (crash) is ignored."""
        records = self._records.read()
        self.saved = len(records)
        return records

    def rewrite(self, records: Iterable[SampleRecord]) -> None:
        """Replace the records by ``records`` and drop the timing of calls that produced none of
        them, each file atomically."""
        records = list(records)
        keys = {record["request_key"] for record in records}
        calls = [
            call
            for call in self._timing.read()
            if isinstance(call, dict) and not keys.isdisjoint(call.get("request_keys", ()))
        ]
        with self._writing(self._records):
            self._records.replace(records)
        self.saved = len(records)
        with self._writing(self._timing):
            self._timing.replace(calls)

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
                f"{self.saved} predictions are safely on disk in {self.path} (the same command "
                "reuses them)",
            ) from error


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
        lines = self.path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as error:
                if number == len(lines):
                    break
                raise DataFormatError(self.path, f"line {number}", None, str(error)) from error
        return items

    def replace(self, items: Iterable[Any]) -> None:
        self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, map(_line, items))

    def append(self, items: Iterable[Any]) -> None:
        if self._stream is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = self.path.open("a", encoding="utf-8")
        self._stream.writelines(map(_line, items))
        self._stream.flush()
        os.fsync(self._stream.fileno())

    def close(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            stream.close()


def write_atomically(path: Path, chunks: Iterable[str]) -> None:
    """Write ``chunks`` to a temporary file, fsync it and rename it to ``path``: a crash or a
    full disk leaves the previous file (or none), never a truncated one.

    Raises:
        OSError: If writing fails; the temporary file is removed.
    """
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as stream:
            stream.writelines(chunks)
            stream.flush()
            os.fsync(stream.fileno())
        partial.replace(path)
    except OSError:
        partial.unlink(missing_ok=True)
        raise


def saved_predictions(output_dir: Path) -> dict[str, int]:
    """Task name -> complete lines (records) in each ``samples_<task>.jsonl`` of a run folder."""
    return {
        path.name.removeprefix("samples_").removesuffix(".jsonl"): path.read_bytes().count(b"\n")
        for path in sorted(output_dir.glob("samples_*.jsonl"))
    }


def _line(item: Any) -> str:
    return json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n"
