"""A task's records on disk: one JSON line per prediction, written through as soon as it is made,
and one JSON line per generate call with its time."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import Counter
from collections.abc import Container, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO

from vlm_eval._files import jsonl_line, write_bytes_atomically
from vlm_eval.data import DataFormatError
from vlm_eval.models import Generation
from vlm_eval.runner._records import SampleRecord, stored_generation

_PART = re.compile(r"\.rank(\d+)$")
"""The end of a part file's stem (see ``_part_path``)."""


class WriteError(RuntimeError):
    """A run file that cannot be written (full disk, ...); the message names the file and says
    which predictions are safely on disk."""

    def __init__(self, path: Path, error: OSError, saved: str):
        super().__init__(f"cannot write {path}: {error.strerror or error}; {saved}")
        self.path = path


SYNC_SECONDS = 2.0
"""How often appended records are fsynced. Each batch's records reach the operating system (a
``write``) before the next batch starts, so a killed process loses none of them; a machine that
loses power loses at most the batches of the last ``SYNC_SECONDS``."""


class JsonlPredictionStore:
    """A task's predictions, appended batch by batch, and their generation times.

    ``path`` holds one record per prediction; ``timing_path`` one line per generate call (its
    request keys, sample ids, size and seconds). Timing is kept out of the records so that the
    same command writes the same records, byte for byte. Records from an earlier run are read
    back (``fold``, ``generations``) so that finished work is reused; ``finish`` writes the
    task's records in their final order.

    With ``part=R`` (rank R of a data-parallel run) records and timing are appended to part
    files of their own, ``<stem>.rankR.jsonl``, so that no two processes write one file;
    ``fold`` and ``generations`` read the part files of any rank too, and ``finish`` folds them
    into ``path``.

    ``kept_path`` holds the records of the folder that the current run does not use (another
    ``--limit``, other samples, other settings): a run never deletes a prediction, and ``fold``
    takes them back for a later run that needs them.

    Attributes:
        saved: Records written to the file appended to (the operating system has them).
    """

    def __init__(self, path: Path, timing_path: Path, kept_path: Path, part: int | None = None):
        self._main = _JsonlFile(path)
        self._kept = _JsonlFile(kept_path)
        self._main_timing = _JsonlFile(timing_path)
        self._records = self._main if part is None else _JsonlFile(_part_path(path, part))
        self._timing = (
            self._main_timing if part is None else _JsonlFile(_part_path(timing_path, part))
        )
        self._appended: dict[str, tuple[int, int]] = {}  # request key -> offset, size in _records
        self.saved = 0

    @property
    def path(self) -> Path:
        """The records file."""
        return self._main.path

    @property
    def timing_path(self) -> Path:
        """The batch timing file."""
        return self._main_timing.path

    def records(self) -> Iterator[Any]:
        """Every complete record in the file, its part files and the kept file, read one at a
        time; a torn last line (crash) is ignored."""
        for file in [*self._with_parts(self._main), self._kept]:
            for item, _ in file.read():
                yield item

    def fold(self, keys: Container[str]) -> dict[str, Generation]:
        """Gather the folder's records of ``keys`` (the file's, the part files' and the kept
        file's, one per key) in the file, as they are, and every other record in the kept file;
        keep the timing of the calls that produced the file's records, and remove the part files.
        Files are replaced atomically, the kept file first (a crash between the two leaves a
        record twice, never nowhere); nothing is written if nothing moves.

        Returns:
            The generations of the records of ``keys``: what a run can reuse.
        """
        reused: dict[str, Generation] = {}
        kept: dict[str, bytes] = {}
        lines: list[bytes] = []
        moved = False
        files = self._with_parts(self._main)
        for file in [*files, self._kept]:
            for item, line in file.read():
                stored = stored_generation(item)
                if stored is not None and stored[0] in keys and stored[0] not in reused:
                    reused[stored[0]] = stored[1]
                    lines.append(line)
                    moved = moved or file is not self._main
                else:
                    key = item.get("request_key") if isinstance(item, dict) else None
                    if isinstance(key, str) and key not in keys:
                        kept.setdefault(key, line)
                    moved = moved or file is not self._kept
        timing_files = self._with_parts(self._main_timing)
        torn = self._main.torn() or self._main_timing.torn()
        if not moved and not torn and len(files) == len(timing_files) == 1:
            return reused
        if kept or self._kept.path.exists():
            with self._writing(self._kept):
                self._kept.replace(kept.values())
        with self._writing(self._main):
            self._main.replace(lines)
        self._replace_timing(timing_files, set(reused))
        return reused

    def generations(
        self, keys: Container[str], *, other_ranks: bool = False
    ) -> dict[str, Generation]:
        """The generations of the records of ``keys`` in the file and its part files (with
        ``other_ranks``: the part files this store does not append to), the first of each key."""
        found: dict[str, Generation] = {}
        files = self._with_parts(self._main)
        if other_ranks:
            files = [file for file in files[1:] if file.path != self._records.path]
        for file in files:
            for item, _ in file.read():
                stored = stored_generation(item)
                if stored is not None and stored[0] in keys:
                    found.setdefault(*stored)
        return found

    def recorded(self, keys: Container[str], name: str) -> dict[str, Any]:
        """The value of the field ``name`` of the records of ``keys`` in the file and its part
        files that have one (the first record of each key): what a record holds beyond its
        generation (a judge's verdict)."""
        found: dict[str, Any] = {}
        for file in self._with_parts(self._main):
            for item, _ in file.read():
                key = item.get("request_key") if isinstance(item, dict) else None
                if isinstance(key, str) and key in keys and name in item:
                    found.setdefault(key, item[name])
        return found

    def append(self, records: Sequence[SampleRecord], seconds: float) -> None:
        """Write ``records``, made by one generate call of ``seconds``, and log the call: both
        reach the operating system before this returns, and disk at least every
        ``SYNC_SECONDS``."""
        lines = [jsonl_line(record).encode("utf-8") for record in records]
        with self._writing(self._records):
            offset = self._records.append(lines)
        for record, line in zip(records, lines, strict=True):
            self._appended[record["request_key"]] = (offset, len(line))
            offset += len(line)
        self.saved += len(records)
        call = {
            "request_keys": [record["request_key"] for record in records],
            "sample_ids": [record["sample_id"] for record in records],
            "batch_size": len(records),
            "seconds": seconds,
        }
        with self._writing(self._timing):
            self._timing.append([jsonl_line(call).encode("utf-8")])

    def finish(self, records: Iterable[tuple[str, SampleRecord | None]]) -> str:
        """Replace the file by ``records`` (request key, record), in that order: a record of
        ``None`` is the one appended under that key, as it was written; keep the timing of the
        calls that produced any of them and remove the part files, each file atomically.
        Records of the file that are not among them are dropped: ``fold`` moved every record
        of another run to the kept file, and failures are not recorded.

        Returns:
            The SHA-256 of the records file written.
        """
        self.close()
        keys: set[str] = set()
        digest = hashlib.sha256()

        def lines(appended: BinaryIO | None) -> Iterator[bytes]:
            for key, record in records:
                keys.add(key)
                if record is None:
                    assert appended is not None  # the records were appended to it
                    line = os.pread(appended.fileno(), *reversed(self._appended[key]))
                else:
                    line = jsonl_line(record).encode("utf-8")
                digest.update(line)
                yield line

        timing_files = self._with_parts(self._main_timing)
        parts = self._with_parts(self._main)[1:]
        with ExitStack() as stack:
            appended = (
                stack.enter_context(self._records.path.open("rb")) if self._appended else None
            )
            with self._writing(self._main):
                self._main.replace(lines(appended))
        self._replace_timing(timing_files, keys)
        for part in parts:
            part.path.unlink(missing_ok=True)
        self._appended.clear()
        self.saved = 0
        return digest.hexdigest()

    def close(self) -> None:
        """Sync and close the files if open."""
        self._records.close()
        self._timing.close()

    def _replace_timing(self, files: list[_JsonlFile], keys: Container[str]) -> None:
        """Replace the timing by that of the calls in ``files`` that produced any of ``keys``;
        remove the timing part files."""
        calls: dict[str, bytes] = {}  # by content: a crash before the parts were removed repeats
        for file in files:
            for call, line in file.read():
                called = call.get("request_keys") if isinstance(call, dict) else None
                if isinstance(called, list) and any(
                    key in keys for key in called if type(key) is str
                ):
                    calls.setdefault(json.dumps(call, sort_keys=True), line)
        with self._writing(self._main_timing):
            self._main_timing.replace(calls.values())
        for part in files[1:]:
            part.path.unlink(missing_ok=True)

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


def write_summary(path: Path, content: str | bytes, predictions: int) -> None:
    """Write a file made from the run's predictions (results, submission) atomically; text is
    written as UTF-8.

    Raises:
        WriteError: If it cannot be written; the previous file, if any, is left as it was.
    """
    try:
        write_bytes_atomically(path, [content.encode() if isinstance(content, str) else content])
    except OSError as error:
        raise WriteError(
            path,
            error,
            f"{predictions} predictions are safely on disk in {path.parent}/samples_*.jsonl "
            f"(the same command reuses them and writes {path.name})",
        ) from error


def _part_path(path: Path, part: int | str) -> Path:
    """The part file of rank ``part`` (or a glob pattern) of ``path``."""
    return path.with_name(f"{path.stem}.rank{part}{path.suffix}")


class _JsonlFile:
    """A JSONL file: read back a line at a time ignoring a torn last line, replaced atomically,
    appended to (written through at once, fsynced every ``SYNC_SECONDS``)."""

    def __init__(self, path: Path):
        self.path = path
        self._stream: BinaryIO | None = None
        self._synced = 0.0
        self._size = 0  # of the file being appended to

    def read(self) -> Iterator[tuple[Any, bytes]]:
        """Each complete line's JSON value, with the line as written."""
        try:
            stream = self.path.open("rb")
        except FileNotFoundError:
            return
        except OSError as error:
            raise DataFormatError(self.path, None, None, f"cannot read: {error}") from error
        with stream:
            for number, line in enumerate(stream, start=1):
                try:
                    item = json.loads(line.removesuffix(b"\n").decode("utf-8"))
                except UnicodeDecodeError as error:
                    problem, cause = "not UTF-8 text", error
                except (ValueError, RecursionError) as error:
                    problem, cause = f"not a JSON record ({error})", error
                else:
                    yield item, line
                    continue
                if not line.endswith(b"\n"):  # the last line, torn by a crash
                    return
                where = f"on line {number}"
                raise DataFormatError(
                    self.path, where, None, f"{problem}: fix or delete this line"
                ) from cause

    def torn(self) -> bool:
        """Whether the file ends in a torn line (a crash while appending), which the next append
        would run into."""
        try:
            with self.path.open("rb") as stream:
                if stream.seek(0, os.SEEK_END) == 0:
                    return False
                stream.seek(-1, os.SEEK_END)
                return stream.read(1) != b"\n"
        except FileNotFoundError:
            return False

    def replace(self, lines: Iterable[bytes]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomically(self.path, lines)
        self.close()

    def append(self, lines: Sequence[bytes]) -> int:
        """Write ``lines`` at the end; returns the offset they start at."""
        if self._stream is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = self.path.open("ab")
            self._synced = time.monotonic()
            self._size = os.fstat(self._stream.fileno()).st_size
        offset, data = self._size, b"".join(lines)
        self._stream.write(data)
        self._stream.flush()
        self._size += len(data)
        if time.monotonic() - self._synced >= SYNC_SECONDS:
            os.fsync(self._stream.fileno())
            self._synced = time.monotonic()
        return offset

    def close(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            try:
                os.fsync(stream.fileno())
            finally:
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
