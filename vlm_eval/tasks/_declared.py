"""Tasks declared as data: a YAML file naming a family, an official format, splits and prompts.

A task that only combines a family (``vqa``, ``caption``, ``document_qa``,
``multiple_choice``, ``exact_match``), a format read by an existing loader and its splits needs
no Python: a ``*.yaml`` file beside the ``*.py`` plugins declares it (``tasks/flickr30k.yaml``),
and ``load_tasks`` registers it like them (an installed package ships them through the
``vlm_eval.tasks`` entry point).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vlm_eval._arguments import keyword_parameters
from vlm_eval._registry import PluginError
from vlm_eval.data import (
    DatasetRow,
    Sample,
    load_coco_captions,
    load_docvqa,
    load_gqa,
    load_karpathy_captions,
    load_textvqa,
    load_vizwiz,
    load_vqa,
    vizwiz_row_sample,
)
from vlm_eval.tasks._choice import MultipleChoiceTask
from vlm_eval.tasks._document import DocumentQATask
from vlm_eval.tasks._exact import ExactMatchTask
from vlm_eval.tasks._families import CaptionTask, VQATask
from vlm_eval.tasks._protocol_task import LmmsEvalPrompt, ProtocolTask
from vlm_eval.tasks._registry import TASKS

FAMILIES: dict[str, type[ProtocolTask]] = {
    "vqa": VQATask,
    "caption": CaptionTask,
    "document_qa": DocumentQATask,
    "multiple_choice": MultipleChoiceTask,
    "exact_match": ExactMatchTask,
}
"""The ``family`` values and the classes the declared tasks subclass."""


@dataclass(frozen=True, slots=True)
class Format:
    """An official file format: its loader and the ``format_args`` it takes.

    Attributes:
        load: Reads a split from the task's folder with the split's ``format_args``.
        args: Each argument's default, ``None`` where the declaration must give it. Values
            are paths relative to the task's folder (or names) where ``{split}`` is the split.
        families: The ``family`` values whose samples the format gives (its references fit
            their metrics); a declaration pairing it with another family is refused.
        attributes: Class attributes the format gives its tasks: how its benchmark's results
            file names questions (``prediction_fields``, ``prediction_ids``), the breakdowns
            its metadata allows, how rows of its hub copy are read (``sample_from_row``).
    """

    load: Callable[[Path, str, Mapping[str, str]], list[Sample]]
    args: Mapping[str, str | None]
    families: tuple[str, ...]
    attributes: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def _karpathy(folder: Path, split: str, args: Mapping[str, str]) -> list[Sample]:
    return load_karpathy_captions(
        folder / args["json"], folder / args["images"], split, id_field=args["id_field"]
    )


def _coco(folder: Path, split: str, args: Mapping[str, str]) -> list[Sample]:
    return load_coco_captions(folder / args["json"], folder / args["images"])


def _vqa(folder: Path, split: str, args: Mapping[str, str]) -> list[Sample]:
    annotations = None if split.startswith("test") else folder / args["annotations"]
    return load_vqa(folder / args["questions"], annotations, folder / args["images"], args["image"])


def _textvqa(folder: Path, split: str, args: Mapping[str, str]) -> list[Sample]:
    return load_textvqa(folder / args["json"], folder / args["images"])


def _docvqa(folder: Path, split: str, args: Mapping[str, str]) -> list[Sample]:
    json_file, annotated = folder / args["json"], not split.startswith("test")
    return load_docvqa(json_file, folder / args["images"], annotated=annotated)


def _vizwiz(folder: Path, split: str, args: Mapping[str, str]) -> list[Sample]:
    annotated = not split.startswith("test")
    return load_vizwiz(folder / args["json"], folder / args["images"], annotated=annotated)


def _vizwiz_row(task: ProtocolTask, row: DatasetRow) -> Sample:
    return vizwiz_row_sample(row)


def _gqa(folder: Path, split: str, args: Mapping[str, str]) -> list[Sample]:
    annotated = split not in ("test", "challenge", "submission")  # testdev has answers
    return load_gqa(folder / args["questions"], folder / args["images"], annotated=annotated)


FORMATS: dict[str, Format] = {
    "karpathy": Format(
        _karpathy, {"json": None, "images": ".", "id_field": "cocoid"}, ("caption",)
    ),
    "coco": Format(_coco, {"json": None, "images": "{split}"}, ("caption",)),
    "vqa": Format(
        _vqa,
        {"questions": None, "annotations": None, "images": "{split}", "image": None},
        ("vqa",),
    ),
    "textvqa": Format(_textvqa, {"json": None, "images": "train_images"}, ("vqa",)),
    "docvqa": Format(_docvqa, {"json": None, "images": "{split}"}, ("document_qa",)),
    "vizwiz": Format(
        _vizwiz,
        {"json": "Annotations/{split}.json", "images": "{split}"},
        ("vqa",),
        {
            "prediction_fields": ("image", "answer"),
            "prediction_ids": (str,),
            "sample_from_row": _vizwiz_row,
        },
    ),
    "gqa": Format(
        _gqa,
        {"questions": "{split}_balanced_questions.json", "images": "images"},
        ("exact_match",),
        {
            "prediction_fields": ("questionId", "prediction"),
            "breakdown_fields": ("structural_type", "semantic_type"),
        },
    ),
}
"""The ``format`` values. ``karpathy``: Karpathy-split caption JSON (``json``; images
``images/filepath/filename``; ``id_field``: ``cocoid`` or ``imgid``). ``coco``: a COCO-style
captions ``json`` file (``images`` and ``annotations``), images ``images/file_name``. ``vqa``:
VQAv2-style ``questions`` and ``annotations`` files (none for ``test*`` splits), ``image`` the
file name pattern in ``images`` (``COCO_{split}_{image_id:012d}.jpg``). ``textvqa``: a TextVQA
``json`` file, images ``images/{image_id}.jpg``. ``docvqa``: a DocVQA ``json`` file, pages
relative to ``images``. ``vizwiz``: a VizWiz-VQA ``json`` list, images ``images/{image}``,
results ``[{"image", "answer"}]``; rows of lmms-lab/VizWiz-VQA. ``gqa``: a GQA ``questions``
file, images ``images/{imageId}.jpg``, results ``[{"questionId", "prediction"}]``, accuracy
per structural and semantic type; official files only (lmms-lab/GQA keeps its images in
another configuration than its questions)."""

_REQUIRED = ("name", "version", "description", "family", "format", "eval_split", "fewshot_split")
_OPTIONAL = ("hub_dataset", "hub_config", "hub_eval_split", "hub_fewshot_split", "data_folder")
_LMMS_EVAL_FIELDS = ("template", "capitalize", "task_args")
_FAMILY_FIELDS = ("question_template", "instruction", "row_id_field", "caption_column")
"""Fields a declaration may set where its family has them: prompt templates (see the ``chat``
protocol: ``{question}`` is the question) and the columns of ``datasets`` rows."""


def register_declared_task(path: Path) -> None:
    """Register the task that the YAML file at ``path`` declares.

    Raises:
        PluginError: Naming the file and the field: invalid YAML, a missing or unknown field, a
            value of the wrong type, an unknown family or format, a format that cannot feed
            the family, a malformed ``lmms_eval``.
    """
    task = declared_task(path)
    TASKS.add(task.name, task, origin=str(path.resolve()), summary=task.__doc__)


def declared_task(path: Path) -> type[ProtocolTask]:
    """The task class that the YAML file at ``path`` declares (see ``register_declared_task``)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise PluginError(f"{path}: not a readable YAML file: {error}") from None
    if not isinstance(data, dict):
        raise PluginError(f"{path}: expected a mapping of fields, got {type(data).__name__}")

    def error(field: str, problem: str) -> PluginError:
        return PluginError(f"{path}: field {field!r}: {problem}")

    def string(field: str) -> str:
        value = data[field]
        if not isinstance(value, str) or not value:
            raise error(field, f"expected a non-empty string, got {value!r}")
        return value

    for field in _REQUIRED:
        if field not in data:
            raise error(field, "missing")
    family_name, format_name = string("family"), string("format")
    if family_name not in FAMILIES:
        raise error("family", f"unknown family {family_name!r}; known: {', '.join(FAMILIES)}")
    if format_name not in FORMATS:
        raise error("format", f"unknown format {format_name!r}; known: {', '.join(FORMATS)}")
    family, format_ = FAMILIES[family_name], FORMATS[format_name]
    if family_name not in format_.families:
        feeds = ", ".join(format_.families)
        raise error("format", f"format {format_name!r} feeds family {feeds}, not {family_name!r}")
    family_fields = [field for field in _FAMILY_FIELDS if hasattr(family, field)]
    known = {*_REQUIRED, *_OPTIONAL, *family_fields, "format_args", "lmms_eval"}
    for field in data:
        if field not in known:
            raise error(field, f"unknown field for family {family_name!r}; known: {sorted(known)}")
    args = data.get("format_args", {})
    if not isinstance(args, dict):
        raise error("format_args", f"expected a mapping, got {args!r}")
    for key, value in args.items():
        if key not in format_.args:
            raise error(f"format_args.{key}", f"format {format_name!r} takes {list(format_.args)}")
        if not isinstance(value, str) or not value:
            raise error(f"format_args.{key}", f"expected a non-empty string, got {value!r}")
    patterns: dict[str, str] = {}
    for key, default in format_.args.items():
        if args.get(key, default) is None:
            raise error(f"format_args.{key}", f"missing: format {format_name!r} needs it")
        patterns[key] = args.get(key, default)
    attributes: dict[str, Any] = {
        field: string(field)
        for field in (*_REQUIRED, *_OPTIONAL, *family_fields)
        if field in data and field not in ("family", "format", "description")
    }
    if "lmms_eval" in data:
        attributes["lmms_eval"] = _lmms_eval_prompt(data["lmms_eval"], family, error)

    def load(self: ProtocolTask, data_dir: Path, split: str) -> list[Sample]:
        split_args = {key: value.replace("{split}", split) for key, value in patterns.items()}
        return format_.load(data_dir, split, split_args)

    return type(
        f"Declared_{attributes['name']}",
        (family,),
        {
            **format_.attributes,
            **attributes,
            "__doc__": string("description"),
            "__module__": __name__,
            "load": load,
        },
    )


def _lmms_eval_prompt(
    value: object, family: type[ProtocolTask], error: Callable[[str, str], PluginError]
) -> LmmsEvalPrompt:
    """The ``lmms_eval`` field: the task's ``template`` under the ``lmms-eval`` protocol,
    whether it ``capitalize``s the question, and the ``task_args`` its scoring amounts to."""
    if not isinstance(value, dict):
        raise error("lmms_eval", f"expected a mapping, got {value!r}")
    for key in value:
        if key not in _LMMS_EVAL_FIELDS:
            raise error(f"lmms_eval.{key}", f"unknown field; known: {list(_LMMS_EVAL_FIELDS)}")
    template = value.get("template")
    try:
        valid = isinstance(template, str) and template.format(question="") != template
    except (IndexError, KeyError, ValueError):
        valid = False
    if not valid:
        problem = f"expected a string holding {{question}} and no other field, got {template!r}"
        raise error("lmms_eval.template", problem)
    capitalize = value.get("capitalize", False)
    if not isinstance(capitalize, bool):
        raise error("lmms_eval.capitalize", f"expected true or false, got {capitalize!r}")
    task_args = value.get("task_args", {})
    if not isinstance(task_args, dict):
        raise error("lmms_eval.task_args", f"expected a mapping, got {task_args!r}")
    options = keyword_parameters(family)
    for key, option in task_args.items():
        if key not in options or key == "protocol":
            known = sorted(set(options) - {"protocol"})
            raise error(
                f"lmms_eval.task_args.{key}", f"not an option of the family; known: {known}"
            )
        if not isinstance(option, str):
            raise error(f"lmms_eval.task_args.{key}", f"expected a string, got {option!r}")
    return LmmsEvalPrompt(template, capitalize, dict(task_args))
