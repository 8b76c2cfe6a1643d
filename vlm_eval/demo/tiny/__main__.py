"""``python -m vlm_eval.demo.tiny ARCH OUTPUT_DIR [--seed N]``: build one tiny checkpoint."""

import argparse
from pathlib import Path

from vlm_eval.demo.tiny import tiny_builders


def main() -> None:
    """Build the tiny checkpoint of the named architecture into the given folder."""
    builders = tiny_builders(encoders=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0].strip("`"))
    parser.add_argument("architecture", choices=sorted(builders))
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(builders[args.architecture](args.output_dir, seed=args.seed))


if __name__ == "__main__":
    main()
