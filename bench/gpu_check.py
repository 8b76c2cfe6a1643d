"""GPU check: every family's tiny checkpoint on CUDA in bfloat16, against CPU float32.

For sessions with a GPU machine. Each tiny checkpoint (``vlm_eval.demo.tiny``) is built once and
run through the generic adapter on the same batch of inputs on the CPU in float32 (the reference)
and on the device in each dtype. Prompt and visual token counts must be identical (the input side
does not depend on the device); the generated text is compared and the agreement reported, since
random weights in bfloat16 may pick other tokens. Writes ``bench/results/gpu_check.json``.

    python -m bench.gpu_check [--device cuda] [--dtypes bfloat16,float32] [--architectures a,b]

Exits 1 if a checkpoint fails to run or the token counts differ, 2 without the device.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from vlm_eval.demo.tiny import tiny_builders
from vlm_eval.demo.tiny._inputs import sample_inputs
from vlm_eval.models import Generation, HuggingFaceAdapter
from vlm_eval.tasks import GenerationSettings

RESULTS = Path(__file__).parent / "results" / "gpu_check.json"
SETTINGS = GenerationSettings(max_new_tokens=8)
BATCH = 6


def _run(folder: Path, device: str, dtype: str) -> list[Generation]:
    adapter = HuggingFaceAdapter(pretrained=str(folder), device=device, dtype=dtype)
    return adapter.generate(sample_inputs(BATCH), SETTINGS)


def _compare(reference: list[Generation], candidate: list[Generation]) -> dict[str, Any]:
    counts_equal = all(
        (r.prompt_tokens, r.visual_tokens) == (c.prompt_tokens, c.visual_tokens)
        for r, c in zip(reference, candidate, strict=True)
    )
    same_text = sum(r.text == c.text for r, c in zip(reference, candidate, strict=True))
    return {
        "token_counts_equal": counts_equal,
        "same_text": f"{same_text}/{len(reference)}",
        "texts": [c.text for c in candidate],
    }


def check_architecture(name: str, device: str, dtypes: list[str]) -> dict[str, Any]:
    """Build ``name``'s tiny checkpoint; compare ``device`` in each dtype with CPU float32."""
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = tiny_builders()[name](Path(folder) / name)
        reference = _run(checkpoint, "cpu", "float32")
        result: dict[str, Any] = {"reference_texts": [g.text for g in reference]}
        for dtype in dtypes:
            result[dtype] = _compare(reference, _run(checkpoint, device, dtype))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtypes", default="bfloat16,float32")
    parser.add_argument("--architectures", default=",".join(sorted(tiny_builders())))
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device here: nothing to check", file=sys.stderr)
        return 2
    dtypes = args.dtypes.split(",")
    report: dict[str, Any] = {}
    failed = False
    for name in args.architectures.split(","):
        try:
            report[name] = check_architecture(name, args.device, dtypes)
        except Exception as error:  # report every architecture, then fail
            report[name] = {"error": f"{type(error).__name__}: {error}"}
            traceback.print_exc()
        failed |= "error" in report[name] or not all(
            report[name][dtype]["token_counts_equal"] for dtype in dtypes
        )
        print(name, json.dumps({k: v for k, v in report[name].items() if k in dtypes}))
    device_name = (
        torch.cuda.get_device_name(torch.device(args.device))
        if args.device.startswith("cuda")
        else args.device
    )
    output = {
        "benchmark": "gpu_check",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": device_name,
        "torch": torch.__version__,
        "max_new_tokens": SETTINGS.max_new_tokens,
        "passed": not failed,
        "architectures": report,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(output, indent=2) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
