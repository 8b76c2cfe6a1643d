"""Built-in model families (see ``vlm_eval.models.ModelFamily``); importing this package
registers them."""
