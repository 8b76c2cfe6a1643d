"""The protocol contract: everything between a sample and its score that a paper or a peer
harness fixes (templates, demonstrations, decoding, cutting), named, registered and recorded."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from vlm_eval._arguments import ArgumentsError, build_with_arguments, parse_key_values
from vlm_eval.data import ImageSource, Sample
from vlm_eval.tasks._prompt import GenerationSettings, ImagePart, Part, Prompt

TaskKind = Literal["vqa", "caption", "multiple_choice", "judged"]
"""``judged``: a question the task writes whole, its hint on the answer's form included (MathVista),
its answer read by rules and perhaps a judge model (``JudgedAnswerTask``)."""


ImagePlacement = Literal["first", "interleaved"]
"""Where the images of a question that shows several go: ``first``, all of them in the
protocol's image slot (before the question: lmms-eval's layout); ``interleaved``, each at the
first ``<image k>`` of the question that names it, the rest in the image slot."""

_IMAGE_MARKER = re.compile(r"<image (\d+)>")


@dataclass(frozen=True, slots=True)
class Example:
    """A query or a demonstration as a protocol sees it.

    Attributes:
        image: Its image; ``None`` for a demonstration shown as text only (OpenFlamingo's
            zero-shot prompts).
        question: The question (VQA; multiple choice: with its options); empty for captions.
        answer: A demonstration's answer or caption; empty for the query.
        more_images: Further images (``Sample.more_images``); the question names image ``k``
            of ``(image, *more_images)`` as ``<image k>``.
        placement: Where the images go.
        kind: The kind of prompt a demonstration is shown in, where a task mixes kinds (MMMU's
            multiple-choice and open questions); ``None``: the query's.
    """

    image: ImageSource | None
    question: str = ""
    answer: str = ""
    more_images: tuple[ImageSource, ...] = ()
    placement: ImagePlacement = "first"
    kind: TaskKind | None = None

    def image_parts(self) -> list[ImagePart]:
        """The images shown where the protocol puts the image: all of them, in order, except
        those ``interleaved`` in the question; none for a text-only demonstration."""
        if self.image is None:
            return []
        placed = self._placed()
        images = (self.image, *self.more_images)
        return [ImagePart(image) for k, image in enumerate(images, 1) if k not in placed]

    def text_parts(self, text: str) -> list[Part]:
        """``text`` (which holds the question) as prompt parts: as it is, or, with
        ``interleaved`` images, with each image at the first ``<image k>`` that names it."""
        placed = self._placed()
        if not placed:
            return [text] if text else []
        images = (self.image, *self.more_images)
        parts: list[Part] = []
        start = 0
        for marker in _IMAGE_MARKER.finditer(text):
            k = int(marker.group(1))
            if k in placed:
                parts += [text[start : marker.start()], ImagePart(images[k - 1])]
                placed = placed - {k}
                start = marker.end()
        parts.append(text[start:])
        return [part for part in parts if part != ""]

    def _placed(self) -> frozenset[int]:
        """The numbers of the images the question places (``interleaved`` only)."""
        if self.placement != "interleaved" or self.image is None:
            return frozenset()
        count = 1 + len(self.more_images)
        named = {int(marker) for marker in _IMAGE_MARKER.findall(self.question)}
        return frozenset(k for k in named if 1 <= k <= count)


class Protocol(ABC):
    """How tasks are put to a model and its answers read back.

    Class attributes:
        name: Registry name (``--protocol NAME``).
        summary: One line for ``vlm-eval list protocols``.
        source: Where its facts come from (a paper, a harness's source at a commit).
        raw: Prompts are text templates (``Message`` of role ``raw``), not chat turns: the
            protocol for base checkpoints, which have no chat template.
        support_size: Demonstrations are drawn from a fixed random subset of this many examples
            of the few-shot split (seeded with ``--seed``); ``None``: from the whole split.
        task_options: Task name -> the scoring options the protocol fixes for it (OK-VQA's
            reference field, say), as ``--task-args`` values; options the user gives win.
        zero_shot_text_shots: A zero-shot prompt (``--num-fewshot 0``) still shows this many
            demonstrations, drawn as usual but as text only (``Example.image`` ``None``).
        template_sets: Task kind -> template id -> template, for protocols that hold several
            prompt templates, one chosen with the option ``<kind>_template``; ``--templates``
            evaluates each (``template_specs``). Empty: one fixed prompt.
        default_templates: Task kind -> the id of the template in ``template_sets`` used
            unless another is asked: the entry of a template sweep that stands for the task
            (reports, leaderboards, ``compare`` with a run that was not swept).
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    source: ClassVar[str]
    raw: ClassVar[bool] = False
    support_size: ClassVar[int | None] = None
    task_options: ClassVar[dict[str, dict[str, str]]] = {}
    zero_shot_text_shots: int = 0
    template_sets: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    default_templates: ClassVar[Mapping[str, str]] = {}

    def options_for(self, task_name: str) -> dict[str, str]:
        """The scoring options the protocol fixes for the task registered as ``task_name``
        (its ``task_options`` entry), as ``--task-args`` values."""
        return dict(self.task_options.get(task_name, {}))

    @abstractmethod
    def prompt(self, kind: TaskKind, query: Example, shots: Sequence[Example], task: Any) -> Prompt:
        """The prompt asking ``query`` after the demonstrations ``shots``; ``task`` (a
        ``VQATask``, ``CaptionTask`` or ``MultipleChoiceTask``) gives the task's own texts where
        the protocol uses them.
        """

    def supports(self, kind: TaskKind) -> bool:
        """Whether the protocol can put tasks of ``kind`` to a model (it has their prompt)."""
        return True

    def demonstration(self, kind: TaskKind, sample: Sample) -> str:
        """The answer a demonstration shows: the majority answer (VQA), the first reference
        caption (captions), the answer letter (multiple choice)."""
        return majority_answer(sample) if kind == "vqa" else sample.references[0]

    @abstractmethod
    def generation(self, kind: TaskKind, task: Any) -> GenerationSettings:
        """How answers are generated for ``task``."""

    @abstractmethod
    def cut(self, kind: TaskKind, text: str, task: Any) -> str:
        """The answer inside the generated ``text``."""

    @abstractmethod
    def describe(self, kind: TaskKind, task: Any) -> dict[str, Any]:
        """Every setting the protocol fixes for ``task``, for results and reports."""


def majority_answer(sample: Sample) -> str:
    """A VQA demonstration's answer: the official majority answer if known (VQAv2's
    ``multiple_choice_answer``), else the most common reference (the first of equals)."""
    if "multiple_choice_answer" in sample.metadata:
        return sample.metadata["multiple_choice_answer"]
    return Counter(sample.references).most_common(1)[0][0]


def cut_at_strings(text: str, stops: Sequence[str]) -> str:
    """``text`` up to the first of ``stops``, stripped."""
    for stop in stops:
        text = text.split(stop, 1)[0]
    return text.strip()


def cut_at_pattern(text: str, words: Sequence[str]) -> str:
    """``text`` up to the first match of the regular expression ``'|'.join(words)``, stripped:
    the words are not escaped, as in Hugging Face's m4 harness (a ``|`` inside a word, as in
    ``<|im_end|>``, is an alternative of the pattern: ``<`` alone then cuts)."""
    return re.split("|".join(words), text, maxsplit=1)[0].strip()


_PROTOCOLS: dict[str, type[Protocol]] = {}
P = TypeVar("P", bound=type[Protocol])


def register_protocol(cls: P) -> P:
    """Class decorator: make ``cls`` available as ``--protocol cls.name``."""
    if cls.name in _PROTOCOLS:
        raise ValueError(f"protocol {cls.name!r} is already registered")
    _PROTOCOLS[cls.name] = cls
    return cls


def protocol_names() -> list[str]:
    """The registered protocols' names, in registration order."""
    return list(_PROTOCOLS)


def get_protocol(spec: str) -> Protocol:
    """The protocol ``spec`` names, with its options: ``NAME`` or ``NAME:key=value;key=value``
    (see ``protocol_spec``).

    Raises:
        ArgumentsError: For an unknown name (listing the known ones) or option.
    """
    name, _, options = spec.partition(":")
    if name not in _PROTOCOLS:
        raise ArgumentsError(f"unknown protocol {name!r}; known protocols: {', '.join(_PROTOCOLS)}")
    owner = f"protocol {name!r}"
    args = parse_key_values(options.replace(";", ","), owner)
    return build_with_arguments(_PROTOCOLS[name], args, owner, "--protocol-args")


def protocol_spec(name: str, options: Mapping[str, str]) -> str:
    """The spec of protocol ``name`` with ``options`` (``--protocol-args``), for ``get_protocol``
    and a task's ``protocol`` option."""
    if not options:
        return name
    return f"{name}:" + ";".join(f"{key}={value}" for key, value in options.items())


def template_specs(spec: str, kind: TaskKind, templates: Sequence[str] | None) -> dict[str, str]:
    """Template id -> the spec of protocol ``spec`` with that ``kind`` template, for each of
    ``templates`` (``None``: every template the protocol holds, in its order): the protocols a
    template sweep (``--templates``) evaluates.

    Raises:
        ArgumentsError: If the protocol holds fewer than two ``kind`` templates to choose from
            (``chat`` none, ``openflamingo`` one), lacks one of ``templates``, or ``spec``
            already chooses the template.
    """
    protocol = get_protocol(spec)  # checks the name and options
    name, _, options = spec.partition(":")
    held = list(protocol.template_sets.get(kind, {}))
    if len(held) < 2:
        having = [n for n, cls in _PROTOCOLS.items() if len(cls.template_sets.get(kind, {})) > 1]
        holds = f"a single {kind} template ({held[0]!r})" if held else f"no {kind} templates"
        raise ArgumentsError(
            f"--templates: protocol {name!r} has {holds} to choose from; "
            f"protocols that have several: {', '.join(having)}"
        )
    unknown = [template for template in templates or () if template not in held]
    if unknown:
        raise ArgumentsError(
            f"--templates: protocol {name!r} has no {kind} template {unknown[0]!r}; "
            f"it has {', '.join(held)}"
        )
    option = f"{kind}_template"
    args = parse_key_values(options.replace(";", ","), f"protocol {name!r}")
    if option in args:
        raise ArgumentsError(
            f"--templates evaluates every template asked: give no {option} option as well"
        )
    return {
        template: protocol_spec(name, args | {option: template})
        for template in (templates if templates is not None else held)
    }
