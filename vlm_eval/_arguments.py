"""``key=value`` command-line arguments turned into typed keyword arguments of a plugin class."""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

SECRET_KEY = re.compile(r"(?i)(?:^|[_.-])(?:key|token|secret|password)$")
"""Argument names whose value is a credential (``api_key``, ``hf_token``, ``secret``,
``password``; not ``tokenizer``): never written to results."""
REDACTED = "<redacted>"
"""What results hold in place of a credential."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

Built = TypeVar("Built")


class ArgumentsError(ValueError):
    """A ``key=value`` argument that is malformed or does not fit the plugin."""


def parse_key_values(text: str, option: str) -> dict[str, str]:
    """``"a=1, b=x"`` -> ``{"a": "1", "b": "x"}``; ``option`` names the flag in errors."""
    args: dict[str, str] = {}
    for item in filter(None, (piece.strip() for piece in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ArgumentsError(f"{option}: expected key=value, got {item!r}")
        if key.strip() in args:
            raise ArgumentsError(f"{option}: {key.strip()!r} given twice")
        args[key.strip()] = value.strip()
    return args


def parse_task_spec(
    spec: str, task_names: Sequence[str], option: str
) -> tuple[str | None, dict[str, str]]:
    """A ``[TASK:]key=value,...`` value of a per-task option such as ``--task-args``: the task it
    names (``None`` without a prefix) and its arguments.

    Raises:
        ArgumentsError: If the spec is malformed or names a task that is not in ``task_names``.
    """
    head, colon, rest = spec.partition(":")
    if colon and "=" not in head:
        name = head.strip()
        if name not in task_names:
            raise ArgumentsError(
                f"{option} {spec!r}: task {name!r} is not among --tasks ({', '.join(task_names)})"
            )
        return name, parse_key_values(rest, option)
    return None, parse_key_values(spec, option)


def keyword_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The keyword-only parameters of ``cls.__init__``: the arguments a plugin accepts."""
    return {
        p.name: p
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def typed_argument(owner: str, key: str, value: object, kind: Any) -> Any:
    """``value`` as the type ``kind`` (see ``build_with_arguments``): a string converted as on
    the command line, any other value checked the same way (``96`` fits ``int``, ``1.5`` not).

    Raises:
        ArgumentsError: Naming ``owner``, ``key`` and the expected type.
    """
    return _convert(owner, key, value if isinstance(value, str) else str(value), kind)


def _convert(owner: str, key: str, value: str, kind: Any) -> Any:
    if get_origin(kind) is Literal:
        choices = get_args(kind)
        if value in choices:
            return value
        raise ArgumentsError(f"{owner}: {key} must be one of {', '.join(choices)}, got {value!r}")
    accepted = [t for t in get_args(kind) or (kind,) if t is not type(None)]
    if len(accepted) == 1 and get_origin(accepted[0]) is Literal:
        return _convert(owner, key, value, accepted[0])
    target = accepted[0] if len(accepted) == 1 else str
    if target is bool:
        if value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ArgumentsError(f"{owner}: {key} must be true or false, got {value!r}")
    try:
        return target(value)
    except (TypeError, ValueError) as error:
        raise ArgumentsError(f"{owner}: {key} must be {target.__name__}, got {value!r}") from error


def build_with_arguments(cls: type[Built], args: dict[str, str], owner: str, option: str) -> Built:
    """``cls(**typed_args)``, each string converted to the type its keyword-only parameter
    declares (``bool``, ``int``, ``float``, ``str``, a ``Literal`` of choices, or optional ones).
    A class whose ``__init__`` also takes ``**kwargs`` gets the other arguments as strings, to
    check and type itself.

    Args:
        cls: The plugin class.
        args: String values by parameter name.
        owner: How errors name the plugin, e.g. ``"model 'hf'"``.
        option: The command-line flag the values came from, e.g. ``"--model-args"``.

    Raises:
        ArgumentsError: For an unknown or missing argument, or a value of the wrong type.
    """
    return cls(**typed_arguments(cls, args, owner, option))


def typed_arguments(cls: type, args: dict[str, str], owner: str, option: str) -> dict[str, Any]:
    """The keyword arguments ``build_with_arguments`` would build ``cls`` with, checked and
    typed, without building it (a model, say, whose construction loads its weights).

    Raises:
        ArgumentsError: For an unknown or missing argument, or a value of the wrong type.
    """
    parameters = keyword_parameters(cls)
    unknown = sorted(set(args) - set(parameters))
    if unknown and not _takes_more_keywords(cls):
        valid = ", ".join(parameters) or "none"
        raise ArgumentsError(
            f"{owner} does not accept {', '.join(unknown)}; valid arguments: {valid}"
        )
    missing = [
        key
        for key, p in parameters.items()
        if p.default is inspect.Parameter.empty and key not in args
    ]
    if missing:
        raise ArgumentsError(f"{owner} needs {', '.join(missing)} in {option}")
    hints = get_type_hints(cls.__init__)
    return {
        key: _convert(owner, key, value, hints.get(key, str)) if key in parameters else value
        for key, value in args.items()
    }


def _takes_more_keywords(cls: type) -> bool:
    """Whether ``cls.__init__`` takes ``**kwargs`` besides its keyword-only parameters (not
    ``object.__init__``'s, of a class without arguments)."""
    return cls.__init__ is not object.__init__ and any(
        p.kind is inspect.Parameter.VAR_KEYWORD
        for p in inspect.signature(cls.__init__).parameters.values()
    )
