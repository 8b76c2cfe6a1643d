"""The model family registry: which family prompts a checkpoint.

A family claims the ``config.model_type`` values it lists; ``--model-args family=NAME`` picks one
by name instead (a plugin's override of a built-in family, or a family that claims no type).
Families register with ``@register_family``, from a plugin file or from a package exposing an
entry point in the ``vlm_eval.families`` group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from vlm_eval._arguments import ArgumentsError
from vlm_eval._registry import PluginError, Registry, UnknownNameError
from vlm_eval.models._family import ModelFamily

if TYPE_CHECKING:
    from transformers import PretrainedConfig

FAMILIES: Registry[type[ModelFamily]] = Registry(
    "family", entry_point_group="vlm_eval.families", plural="families"
)

Family = TypeVar("Family", bound=type[ModelFamily])


def register_family(cls: Family) -> Family:
    """Class decorator adding a ``ModelFamily`` subclass to the registry under ``cls.name``."""
    if not (isinstance(cls, type) and issubclass(cls, ModelFamily)):
        raise TypeError(f"@register_family expects a ModelFamily subclass, got {cls!r}")
    FAMILIES.add(cls.name, cls)
    return cls


register_family(ModelFamily)  # "generic": claims no model type, and can be named
for _name, _module in {
    "blip2": "blip2",
    "idefics": "idefics",
    "llava": "llava",
    "paligemma": "paligemma",
    "qwen2_vl": "qwen2_vl",
    "smolvlm": "idefics",
}.items():  # the built-in families, imported on first get
    FAMILIES.add_lazy(_name, f"vlm_eval.models.families.{_module}")


def family_for(model_type: str) -> ModelFamily:
    """The family claiming checkpoints of ``model_type``; the generic one if none does.

    Raises:
        PluginError: If several families claim it (a plugin's and a built-in one), naming them
            and where they are defined.
    """
    claiming = [name for name in FAMILIES.names() if model_type in FAMILIES.get(name).model_types]
    if len(claiming) > 1:
        listed = ", ".join(f"{name} ({FAMILIES.origin(name)})" for name in claiming)
        raise PluginError(
            f"model type {model_type!r} is claimed by several families: {listed}; choose one "
            "with --model-args family=NAME"
        )
    return FAMILIES.get(claiming[0])() if claiming else ModelFamily()


def any_family_image_options() -> set[str]:
    """The image options that some registered family takes: ``--model-args`` keys that are
    not typos, though the checkpoint's family may not take them."""
    return {option for name in FAMILIES.names() for option in FAMILIES.get(name).image_options}


def named_family(name: str) -> ModelFamily:
    """The family registered as ``name`` (``--model-args family=NAME``).

    Raises:
        ArgumentsError: For an unknown name, listing the registered ones.
    """
    try:
        return FAMILIES.get(name)()
    except UnknownNameError as error:
        raise ArgumentsError(f"family: {error}") from None


def checkpoint_family(config: PretrainedConfig, family: str | None = None) -> ModelFamily:
    """The family prompting a checkpoint of ``config``: the one named ``family`` as it is, else
    the one claiming ``config.model_type``, refined by its ``for_checkpoint``."""
    if family is not None:
        return named_family(family)
    return family_for(config.model_type).for_checkpoint(config)
