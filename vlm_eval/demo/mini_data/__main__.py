"""``python -m vlm_eval.demo.mini_data OUT_DIR [--seed N] [--sizes mini|demo]``."""

from vlm_eval.demo.mini_data import main

main()
