"""Built-in model families (see ``vlm_eval.models.ModelFamily``), one module each, registered by
name in ``vlm_eval.models.FAMILIES`` and imported on first use."""
