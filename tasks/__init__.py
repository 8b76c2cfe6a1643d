"""Built-in task plugins, installed as ``vlm_eval.builtin_tasks``: one file per task."""
