"""The model family registry: families by name, the model types they claim, ``family=`` in
``--model-args``, the ``vlm_eval.families`` entry points and each family's own image options."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
from click.testing import CliRunner
from transformers import ProcessorMixin

from vlm_eval._arguments import ArgumentsError
from vlm_eval._registry import PluginError
from vlm_eval.cli import main
from vlm_eval.models import (
    FAMILIES,
    HuggingFaceAdapter,
    ModelLoadError,
    create_model,
    family_for,
    register_family,
)
from vlm_eval.models.families.idefics import IdeficsFamily

ACME_FAMILY = '''
from vlm_eval.models import ModelFamily, register_family


@register_family
class AcmeFamily(ModelFamily):
    """Acme checkpoints: the generic chat-template prompts."""

    name = "acme"
    model_types = ("acme_vlm",)
'''


def _register_acme_idefics() -> type[IdeficsFamily]:
    """A plugin's Idefics2 family that also claims ``idefics2``, with image options of its own;
    ``applied`` records what ``apply_options`` was given."""

    @register_family
    class AcmeIdefics(IdeficsFamily):
        name = "acme-idefics"
        model_types = ("idefics2",)
        image_options: ClassVar[Mapping[str, Any]] = {
            "do_image_splitting": bool,
            "tiling": Literal["none", "grid"],
        }
        applied: ClassVar[Mapping[str, Any]] = {}

        def apply_options(self, processor: ProcessorMixin, options: Mapping[str, Any]) -> None:
            type(self).applied = options

    return AcmeIdefics


def test_built_in_families_are_registered_by_name() -> None:
    assert FAMILIES.names() == [
        "blip2",
        "generic",
        "idefics",
        "llava",
        "paligemma",
        "qwen2_vl",
        "smolvlm",
    ]
    assert family_for("qwen2_5_vl").name == "qwen2_vl"
    assert family_for("unknown_vlm").name == "generic"


def test_two_families_claiming_a_model_type_are_refused_unless_one_is_named(
    tiny_model_dir: Path,
) -> None:
    _register_acme_idefics()
    with pytest.raises(PluginError, match=r"'idefics2' is claimed by several families: acme-"):
        family_for("idefics2")
    with pytest.raises(PluginError, match=r"idefics \(.*idefics\.py\); choose one with"):
        HuggingFaceAdapter(pretrained=str(tiny_model_dir), device="cpu")
    chosen = create_model("hf", {"pretrained": str(tiny_model_dir), "family": "idefics"})
    assert chosen.describe()["family"] == "idefics"


def test_a_run_with_two_families_claiming_its_model_type_stops_with_their_names(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    _register_acme_idefics()
    result = CliRunner().invoke(
        main,
        ["run", "--model-args", f"pretrained={tiny_model_dir},device=cpu", "--tasks", "vqav2",
         "--data-dir", str(mini_data), "--limit", "1", "--output", str(tmp_path / "run")],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "'idefics2' is claimed by several families: acme-idefics" in result.output
    assert "choose one with --model-args family=NAME" in " ".join(result.output.split())


def test_family_names_the_family_and_an_unknown_name_lists_them(tiny_model_dir: Path) -> None:
    generic = create_model("hf", {"pretrained": str(tiny_model_dir), "family": "generic"})
    assert generic.describe()["family"] == "generic"
    with pytest.raises(
        ArgumentsError, match=r"unknown family 'idefix'; available families: blip2, generic, "
    ):
        create_model("hf", {"pretrained": str(tiny_model_dir), "family": "idefix"})


def test_a_family_types_and_checks_its_own_image_options(tiny_model_dir: Path) -> None:
    """Options the adapter does not list: the family named by ``family=`` declares, types and
    validates them, and gets them typed in ``apply_options``."""
    family = _register_acme_idefics()
    args = {"pretrained": str(tiny_model_dir), "family": "acme-idefics"}
    adapter = create_model("hf", args | {"tiling": "grid", "do_image_splitting": "yes"})
    assert family.applied == {"tiling": "grid", "do_image_splitting": True}
    assert adapter.describe()["processor_options"] == {"tiling": "grid", "do_image_splitting": True}
    with pytest.raises(
        ModelLoadError, match=r"acme-idefics image option: tiling must be one of none, grid, got"
    ):
        create_model("hf", args | {"tiling": "spiral"})
    with pytest.raises(
        ModelLoadError,
        match=r"acme-idefics checkpoints do not take max_pixels \(image options they take: "
        r"do_image_splitting, tiling\)",
    ):
        create_model("hf", args | {"max_pixels": "1000"})
    with pytest.raises(ModelLoadError, match="idefics image option: image_longest_edge must be"):
        HuggingFaceAdapter(pretrained=str(tiny_model_dir), family="idefics", image_longest_edge=9.5)


def test_installed_packages_register_families_through_the_entry_point(
    install_plugin_package: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = install_plugin_package("acme_families", ACME_FAMILY, "vlm_eval.families")
    monkeypatch.setattr(FAMILIES, "_entry_points_loaded", False)
    result = CliRunner().invoke(main, ["list", "families"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    acme = lines.index(next(line for line in lines if line.startswith("acme ")))
    assert "model types: acme_vlm; chat template; image options: none" in lines[acme]
    assert lines[acme + 1].strip() == str(folder / "acme_families.py")
    assert family_for("acme_vlm").name == "acme"
    assert "qwen2_vl           model types: qwen2_vl, qwen2_5_vl; chat template; image options: " \
        "min_pixels, max_pixels" in result.output  # fmt: skip


def test_the_readme_family_example_registers_from_a_plugin_folder(tmp_path: Path) -> None:
    """The README's "Adding a model family" example, as a file of an --include-path folder."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    match = re.search(r"<!-- family-example -->\s*```python\n(.*?)```", readme, re.S)
    assert match, "README.md lost its family example block"
    (tmp_path / "acme.py").write_text(match.group(1))
    result = CliRunner().invoke(main, ["list", "families", "--include-path", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "acme               model types: acme_vl; chat template; image options: image_size, " \
        f"resample\n{'':<19}{tmp_path / 'acme.py'}" in result.output  # fmt: skip
    family = family_for("acme_vl")
    assert family.check_options({"image_size": "448", "resample": "bicubic"}) == {
        "image_size": 448,
        "resample": "bicubic",
    }
    with pytest.raises(ArgumentsError, match="acme checkpoints do not take max_pixels"):
        family.check_options({"max_pixels": "1000"})
