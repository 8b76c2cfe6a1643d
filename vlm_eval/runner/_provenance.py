"""What a result depends on beyond its configuration: software versions, code revision, hardware."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

from vlm_eval._arguments import REDACTED
from vlm_eval._arguments import SECRET_KEY as _SECRET_KEY

# key=value arguments whose value is a credential: never written to results.
_KEY_VALUE = re.compile(r"([\w.-]+)=([^,\s]*)")

_PACKAGES = ("vlm-eval", "torch", "transformers", "tokenizers", "pycocoevalcap", "numpy", "pillow")


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _git_revision() -> str | None:
    """The commit of the vlm-eval source checkout, with ``+dirty`` for local changes."""
    source = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}+dirty" if dirty else sha


def redact_secrets(text: str) -> str:
    """``text`` with the value of every ``key=value`` whose key names a credential (``api_key``,
    ``hf_token``, ``secret``, ``password``; not ``tokenizer``) replaced by ``<redacted>``."""

    def redact(match: re.Match[str]) -> str:
        key = match.group(1)
        return f"{key}={REDACTED}" if _SECRET_KEY.search(key) else match.group()

    return _KEY_VALUE.sub(redact, text)


def collect_provenance() -> dict[str, Any]:
    """Versions, git revision, command line and hardware of this process."""
    hardware: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        hardware["cuda_devices"] = [
            torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
        ]
    return {
        "versions": {
            "python": platform.python_version(),
            **{name: _package_version(name) for name in _PACKAGES},
        },
        "git_revision": _git_revision(),
        "command": [redact_secrets(argument) for argument in sys.argv],
        "hardware": hardware,
    }
