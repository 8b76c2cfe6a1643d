"""Kill a ``vlm-eval`` run at a chosen batch, on an event rather than after a delay.

``run_and_kill_at`` runs the command in a child process (this module as ``__main__``) whose
Hugging Face adapter, on its Nth ``generate`` call, tells the test through a pipe and then waits
to be killed: the batches before it are generated, and their records written, whatever the
speed of the machine.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlm_eval.models import Generation, HuggingFaceAdapter
    from vlm_eval.tasks import GenerationSettings

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 600  # seconds: a safety net only, for a child that neither reaches the call nor ends
_REACHED = b"R"


def run_and_kill_at(call: int, arguments: list[str], log: Path) -> bool:
    """Run ``vlm-eval`` with ``arguments`` and SIGKILL it once its ``call``-th generate call
    (counted from 1) has started; whether it was killed there, or ended by itself first."""
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb", buffering=0) as signals, log.open("w") as stderr:
        try:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.kill_at_batch",
                    str(call),
                    str(write_end),
                    *arguments,
                ],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                pass_fds=(write_end,),
            )
        finally:
            os.close(write_end)  # the child's copy is then the only one: EOF once it ends
        try:
            ready, _, _ = select.select([signals], [], [], TIMEOUT)
            assert ready, f"the run neither reached generate call {call} nor ended"
            reached = signals.read(1) == _REACHED
            if reached:
                process.kill()  # SIGKILL
            process.wait(TIMEOUT)
        finally:
            process.kill()
            process.wait()
    if not reached:
        assert process.returncode == 0, log.read_text()[-3000:]
    return reached


def _stop_at(call: int, signal_fd: int) -> None:
    """Make the ``call``-th generate call of the Hugging Face adapter write to ``signal_fd`` and
    wait to be killed."""
    from vlm_eval.models import HuggingFaceAdapter

    generate_prepared = HuggingFaceAdapter.generate_prepared  # what generate calls too
    calls = 0

    def stopping(
        self: HuggingFaceAdapter, prepared: Any, settings: GenerationSettings
    ) -> list[Generation]:
        nonlocal calls
        calls += 1
        if calls == call:
            os.write(signal_fd, _REACHED)
            threading.Event().wait()  # never set: the test kills this process
        return generate_prepared(self, prepared, settings)

    HuggingFaceAdapter.generate_prepared = stopping  # type: ignore[method-assign]


if __name__ == "__main__":
    _stop_at(int(sys.argv[1]), int(sys.argv[2]))
    from vlm_eval.cli import main

    main(sys.argv[3:], prog_name="vlm-eval")
