"""Pausing Python's cyclic garbage collector while large JSON files are parsed."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import Any, TypeVar, cast

Loader = TypeVar("Loader", bound=Callable[..., Any])


def without_gc_pauses(loader: Loader) -> Loader:
    """Run ``loader`` with the cyclic garbage collector off.

    Parsing an annotation or records file allocates millions of small dicts and strings, none of
    them in reference cycles, and each allocation burst triggers a full collection that walks all
    of them: on VQAv2 val that is 40% of the loading time (75% for a run's records).
    """

    @functools.wraps(loader)
    def load(*args: Any, **kwargs: Any) -> Any:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return loader(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return cast(Loader, load)
