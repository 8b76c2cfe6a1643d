"""Files the CLI writes and reads back: atomic replacement, and JSONL lines split at ``\\n`` only.

Kept apart from the runner and the reports, which both use it, so that neither imports the other.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def write_atomically(path: Path, chunks: Iterable[str]) -> None:
    """Write the text ``chunks`` (UTF-8) atomically: see ``write_bytes_atomically``.

    Raises:
        OSError: If writing fails; the temporary file is removed.
    """
    _write_atomically(path, chunks, "w", encoding="utf-8", newline="")


def write_bytes_atomically(path: Path, chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to a temporary file next to ``path`` (a name of its own: two writers never
    share it), fsync it and rename it to ``path``: a crash or a full disk leaves the previous file
    (or none), never a truncated one.

    Raises:
        OSError: If writing fails; the temporary file is removed.
    """
    _write_atomically(path, chunks, "wb")


def _write_atomically(path: Path, chunks: Iterable[Any], mode: str, **options: Any) -> None:
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(descriptor)
    partial = Path(name)
    try:
        with partial.open(mode, **options) as stream:
            stream.writelines(chunks)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(partial, 0o644)  # mkstemp makes it private; the file it replaces was not
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def jsonl_line(item: Any) -> str:
    """``item`` as one JSONL line, UTF-8 text where it can be. Characters that other readers take
    for line breaks (U+2028, U+2029, U+0085, ...) stay unescaped: only ``\\n`` ends a line
    (``json.dumps`` escapes it). A string holding a lone surrogate (``"\\ud800"`` in a JSON
    file: not encodable as UTF-8) makes the line ASCII, with ``\\u`` escapes."""
    line = json.dumps(item, ensure_ascii=False, sort_keys=True)
    if not line.isascii() and _LONE_SURROGATE.search(line):
        line = json.dumps(item, sort_keys=True)
    return line + "\n"


def jsonl_lines(data: bytes) -> Iterator[tuple[int, str | None]]:
    """The lines of JSONL ``data``, numbered from 1, split at ``\\n`` only (``str.splitlines``
    also splits at U+2028, U+0085, ``\\x0b``, ... which JSON strings may hold unescaped); a line
    that is not valid UTF-8 is ``None``. A final empty line (after the last ``\\n``) is left out.
    """
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    for number, line in enumerate(lines, start=1):
        try:
            yield number, line.decode("utf-8")
        except UnicodeDecodeError:
            yield number, None
