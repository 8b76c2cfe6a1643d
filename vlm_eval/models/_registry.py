"""The model adapter registry and the ``--model-args`` parser."""

from __future__ import annotations

import inspect
from typing import Any, TypeVar, get_type_hints

from vlm_eval._registry import Registry
from vlm_eval.models._adapter import ModelAdapter

MODELS: Registry[type[ModelAdapter]] = Registry("model", entry_point_group="vlm_eval.models")

AdapterClass = TypeVar("AdapterClass", bound=type[ModelAdapter])

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def register_model(cls: AdapterClass) -> AdapterClass:
    """Class decorator adding a ``ModelAdapter`` subclass to the registry under ``cls.name``."""
    if not (isinstance(cls, type) and issubclass(cls, ModelAdapter)):
        raise TypeError(f"@register_model expects a ModelAdapter subclass, got {cls!r}")
    MODELS.add(getattr(cls, "name", ""), cls)
    return cls


class ModelArgsError(ValueError):
    """A ``--model-args`` value that is malformed or does not fit the adapter."""


def parse_model_args(text: str) -> dict[str, str]:
    """``"pretrained=PATH,dtype=float32"`` -> ``{"pretrained": "PATH", "dtype": "float32"}``."""
    args: dict[str, str] = {}
    for item in filter(None, (piece.strip() for piece in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ModelArgsError(f"--model-args: expected key=value, got {item!r}")
        if key.strip() in args:
            raise ModelArgsError(f"--model-args: {key.strip()!r} given twice")
        args[key.strip()] = value.strip()
    return args


def _convert(adapter: str, key: str, value: str, kind: Any) -> Any:
    accepted = [t for t in getattr(kind, "__args__", (kind,)) if t is not type(None)]
    target = accepted[0] if len(accepted) == 1 else str
    if target is bool:
        if value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ModelArgsError(f"model {adapter!r}: {key} must be true or false, got {value!r}")
    try:
        return target(value)
    except (TypeError, ValueError) as error:
        raise ModelArgsError(
            f"model {adapter!r}: {key} must be {target.__name__}, got {value!r}"
        ) from error


def create_model(name: str, args: dict[str, str]) -> ModelAdapter:
    """Build the adapter registered as ``name`` from string arguments, checked and typed."""
    cls = MODELS.get(name)
    parameters = {
        p.name: p
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    hints = get_type_hints(cls.__init__)
    unknown = sorted(set(args) - set(parameters))
    if unknown:
        raise ModelArgsError(
            f"model {name!r} does not accept {', '.join(unknown)}; "
            f"valid arguments: {', '.join(parameters)}"
        )
    missing = [
        key
        for key, p in parameters.items()
        if p.default is inspect.Parameter.empty and key not in args
    ]
    if missing:
        raise ModelArgsError(f"model {name!r} needs {', '.join(missing)} in --model-args")
    typed = {key: _convert(name, key, value, hints.get(key, str)) for key, value in args.items()}
    return cls(**typed)
