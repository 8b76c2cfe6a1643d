"""Built-in model families (see ``vlm_eval.models.ModelFamily``), one module each; importing
this package imports them all, which registers them."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
