"""One run at a time in a run folder: an advisory lock on ``OUTPUT/.lock``, naming its holder."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from vlm_eval.runner._store import WriteError

LOCK_FILE = ".lock"

_HELD: set[int] = set()
"""The descriptors of the locks this process holds."""


def _release_in_child() -> None:
    """In a forked child (an image-decoding worker), close the inherited lock descriptors: the
    lock stays the parent's, and ends with it even while an orphaned worker lingers."""
    for descriptor in _HELD:
        with suppress(OSError):
            os.close(descriptor)
    _HELD.clear()


os.register_at_fork(after_in_child=_release_in_child)


class RunFolderBusyError(RuntimeError):
    """Another run holds the run folder; the message names it (process, host, start, command)."""


@contextmanager
def run_folder_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s lock for the duration, creating the folder if needed.

    The lock is an ``flock`` on ``folder/.lock``: the kernel releases it when the process ends,
    however it ends (a killed run leaves no stale lock). The file says who holds it. Temporary
    files that a killed run left (``.*.partial``, see ``write_atomically``) are removed once the
    lock is held. A run that fails before writing anything (a model that does not load) leaves
    the folder as it found it: the lock file it made is removed, and the folder if it made it.

    Raises:
        RunFolderBusyError: If another process holds it.
        WriteError: If the folder or its lock file cannot be made.
    """
    made = not folder.exists()
    path = folder / LOCK_FILE
    made_lock = not path.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise WriteError(path, error, "nothing was written") from error
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderBusyError(
                f"{folder} is in use by another run ({_holder(path)}): wait for it to end, or "
                "give this run another --output"
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv),
        }
        with suppress(OSError):  # the name of the holder is a courtesy: a full disk may refuse it
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, (json.dumps(holder) + "\n").encode(), 0)
        for stale in folder.glob(".*.partial"):
            stale.unlink(missing_ok=True)
        _HELD.add(descriptor)
        try:
            yield
        finally:
            _HELD.discard(descriptor)
            if made_lock and [entry.name for entry in folder.iterdir()] == [LOCK_FILE]:
                path.unlink()
                if made:
                    folder.rmdir()
    finally:
        os.close(descriptor)  # releases the lock


def _holder(path: Path) -> str:
    """What the lock file says of its holder, as text."""
    try:
        holder = json.loads(path.read_bytes())
        return (
            f"process {holder['pid']} on {holder['host']}, started {holder['started_at']}: "
            f"{holder['command']}"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return f"its holder did not say who it is in {path}"
