"""``make bench``: every CPU benchmark, one after another, then a summary table of all.

Each runs in a process of its own (``vqa_accuracy`` pins itself to one core) and writes its JSON
to ``bench/results/``; the table is built from those files. ``bench.gpu`` is not run: it is for
sessions with a GPU (``python -m bench.gpu``). Exits 1 if a benchmark fails or misses a target.

    python -m bench.run_all [--only harness_overhead,tiny_model,...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from bench._common import RESULTS_DIR

BENCHMARKS = (
    "harness_overhead",
    "feed_rate",
    "tiny_model",
    "caption_metrics",
    "vqa_accuracy",
    "scale",
)


def _table(names: list[str], since: float) -> list[str]:
    """The summary rows of the named benchmarks' result files written after ``since`` (a
    ``time.time()``), as a markdown table."""
    lines = [
        "| benchmark | measure | baseline | vlm-eval | ratio | target | passed |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name in names:
        path = RESULTS_DIR / f"{name}.json"
        if not path.exists() or path.stat().st_mtime < since:
            lines.append(f"| {name} | no results from this run | | | | | no |")
            continue
        for row in json.loads(path.read_text(encoding="utf-8"))["summary"]:
            target = "—" if row["target"] is None else f">= {row['target']}"
            lines.append(
                f"| {name} | {row['measure']} | {row['baseline']} | {row['vlm_eval']} | "
                f"{row['ratio']}x | {target} | {'yes' if row['passed'] else 'no'} |"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    args = parser.parse_args(argv)
    names = args.only.split(",")
    if unknown := set(names) - set(BENCHMARKS):
        parser.error(f"--only: unknown {', '.join(sorted(unknown))}")
    failed = []
    since, started = time.time(), time.perf_counter()
    for name in names:
        print(f"== bench.{name}", flush=True)
        began = time.perf_counter()
        code = subprocess.run([sys.executable, "-m", f"bench.{name}"]).returncode
        print(f"== bench.{name}: exit {code} after {time.perf_counter() - began:.0f} s", flush=True)
        if code:
            failed.append(name)
    print(f"\nAll benchmarks in {time.perf_counter() - started:.0f} s (results in {RESULTS_DIR}):")
    print("\n".join(_table(names, since)))
    if failed:
        print(f"failed or missed a target: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
