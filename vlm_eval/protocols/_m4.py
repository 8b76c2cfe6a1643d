"""The protocols of Hugging Face's own Idefics2 evaluation harness (m4), from the facts in
``idefics2_m4.json`` (read from that harness's source; see its ``source``)."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from vlm_eval._arguments import ArgumentsError
from vlm_eval.data import Sample
from vlm_eval.protocols._protocol import (
    Example,
    Protocol,
    TaskKind,
    cut_at_pattern,
    register_protocol,
)
from vlm_eval.tasks._prompt import (
    GenerationSettings,
    ImagePart,
    Message,
    Part,
    Prompt,
    SpecialToken,
)

_FACTS = Path(__file__).with_name("idefics2_m4.json")
_FIELDS = re.compile(r"(\{bos_token\}|\{eos_token\}|<image>|\{question\}|\{answer\}|\{caption\})")


@cache
def m4_facts() -> dict[str, Any]:
    """The harness's templates, stop words and notes (``idefics2_m4.json``)."""
    facts: dict[str, Any] = json.loads(_FACTS.read_text(encoding="utf-8"))
    return facts


class TemplateProtocol(Protocol):
    """A raw text template per task kind: ``prefix`` then each demonstration's ``example``
    with its answer, then the query's ``example`` with an empty answer, the whole prompt stripped
    of surrounding whitespace. ``{bos_token}`` / ``{eos_token}`` are the tokenizer's special
    tokens and ``<image>`` the model family's image placeholder (Idefics2 without splitting:
    ``<fake_token_around_image>``, 64 ``<image>``, ``<fake_token_around_image>``). Questions
    and answers are inserted as text, never read as template fields. Greedy decoding; the
    output is cut at the first match of the stop words joined into a regular expression.

    As the harness does (its ``_create_example_prompt`` callers): demonstrations get the
    tokenizer's EOS for ``{eos_token}``, the query an empty one; the query's example is stripped
    on its own and, for instruct templates, loses its last ``len(query_cut)`` characters (the
    empty answer's ``<end_of_utterance>``), so that it ends with ``Assistant:``.

    Class attributes:
        query_cut: Task kind -> the end of the query's example that is cut off (instruct
            templates).
        template_sets: Task kind -> template id -> ``{"prefix": str | None, "example": str}``.
        default_templates: Task kind -> the id of the template used unless another is asked.
        stop_words: Task kind -> the words of the cutting pattern.
        default_max_new_tokens: New tokens unless another number is asked.

    Args:
        max_new_tokens: New tokens to generate (default: ``default_max_new_tokens``).
        vqa_template: The id of the VQA template in ``template_sets``.
        caption_template: The id of the caption template in ``template_sets``.
    """

    raw = True
    query_cut: ClassVar[dict[str, str]] = {}
    template_sets: ClassVar[dict[str, dict[str, dict[str, str | None]]]]
    default_templates: ClassVar[dict[str, str]]
    stop_words: ClassVar[dict[str, tuple[str, ...]]]
    default_max_new_tokens: ClassVar[int]

    def __init__(
        self,
        *,
        max_new_tokens: int | None = None,
        vqa_template: str | None = None,
        caption_template: str | None = None,
    ) -> None:
        self.max_new_tokens = (
            self.default_max_new_tokens if max_new_tokens is None else max_new_tokens
        )
        if self.max_new_tokens < 1:
            raise ArgumentsError(f"protocol {self.name!r}: max_new_tokens must be at least 1")
        asked = {"vqa": vqa_template, "caption": caption_template}
        self.template_ids = {
            kind: asked[kind] or default for kind, default in self.default_templates.items()
        }
        for kind, template in self.template_ids.items():
            if template not in self.template_sets[kind]:
                known = ", ".join(self.template_sets[kind])
                raise ArgumentsError(
                    f"protocol {self.name!r}: no {kind} template {template!r}; it has {known}"
                )
        self.templates = {
            kind: self.template_sets[kind][template] for kind, template in self.template_ids.items()
        }

    def prompt(self, kind: TaskKind, query: Example, shots: Sequence[Example], task: Any) -> Prompt:
        template = self.templates[kind]
        parts: list[Part] = []
        if template["prefix"]:
            parts += _fill(template["prefix"], query, eos=False)
        for shot in shots:
            parts += _fill(template["example"] or "", shot, eos=True)
        asked = _stripped(_joined(_fill(template["example"] or "", query, eos=False)))
        cut = self.query_cut.get(kind, "")
        if cut and asked and isinstance(asked[-1], str):
            asked[-1] = asked[-1][: -len(cut)].rstrip()
        return (Message("raw", tuple(_stripped(_joined(parts + asked)))),)

    def demonstration(self, kind: TaskKind, sample: Sample) -> str:
        """The most common answer (VQA: the references as scored, raw answers for OK-VQA when
        the task scores raw answers), or a reference caption drawn at random (seeded by the
        sample's id, so that a prompt is the same in every run)."""
        if kind == "vqa":
            return Counter(sample.references).most_common(1)[0][0]
        return random.Random(sample.id).choice(sample.references)

    def generation(self, kind: TaskKind, task: Any) -> GenerationSettings:
        return GenerationSettings(self.max_new_tokens, stop=self.stop_words[kind])

    def cut(self, kind: TaskKind, text: str, task: Any) -> str:
        return cut_at_pattern(text, self.stop_words[kind])

    def describe(self, kind: TaskKind, task: Any) -> dict[str, Any]:
        shown = "most common answer" if kind == "vqa" else "a reference caption drawn at random"
        return {
            "name": self.name,
            "source": self.source,
            "template_id": self.template_ids[kind],
            "template": self.templates[kind],
            "stop_words": list(self.stop_words[kind]),
            "cut": "at the first match of '|'.join(stop_words) as a regular expression, stripped",
            "max_new_tokens": self.max_new_tokens,
            "demonstration_answer": shown,
            "support_size": self.support_size,
        }


def _fill(template: str, example: Example, *, eos: bool) -> list[Part]:
    """``template`` with ``example`` in its fields, as prompt parts; ``{eos_token}`` is the
    tokenizer's EOS if ``eos``, else empty."""
    values: dict[str, Part] = {
        "{bos_token}": SpecialToken("bos"),
        "{eos_token}": SpecialToken("eos") if eos else "",
        "<image>": ImagePart(example.image),
        "{question}": example.question,
        "{answer}": example.answer,
        "{caption}": example.answer,
    }
    return [values.get(piece, piece) for piece in _FIELDS.split(template) if piece]


def _joined(parts: list[Part]) -> list[Part]:
    """``parts`` with adjacent texts joined and empty texts dropped."""
    joined: list[Part] = []
    for part in parts:
        if isinstance(part, str) and joined and isinstance(joined[-1], str):
            joined[-1] += part
        elif part != "":
            joined.append(part)
    return joined


def _stripped(parts: list[Part]) -> list[Part]:
    """``parts`` without whitespace before the first text or after the last one, as the harness
    strips the whole prompt."""
    if parts and isinstance(parts[0], str):
        parts[0] = parts[0].lstrip()
    if parts and isinstance(parts[-1], str):
        parts[-1] = parts[-1].rstrip()
    return [part for part in parts if part != ""]


def _m4_templates(section: str) -> dict[str, dict[str, str | None]]:
    return {key: dict(value) for key, value in m4_facts()[section]["templates"].items()}


def _m4_stop_words(section: str) -> tuple[str, ...]:
    return tuple(m4_facts()[section]["stop_words"])


_SOURCE = "Hugging Face's Idefics2 evaluation harness (m4), huggingface/smollm@a041759"


@register_protocol
class Idefics2Base(TemplateProtocol):
    """The Idefics2 paper's base-model protocol (8-shot table): VQA template 9, caption
    template 7 of the harness (the ids its scripts select; any of its 16 VQA and 9 caption
    templates with ``vqa_template`` / ``caption_template``), 15 new tokens (its scripts use 15
    or 40; the paper does not say: ``max_new_tokens``), demonstrations from a fixed random
    support set of 2,048 train examples, OK-VQA scored raw against raw."""

    name = "idefics2-base"
    summary = "m4 harness raw templates for base checkpoints (VQA template 9, captions 7)"
    source = _SOURCE
    support_size = 2048
    default_max_new_tokens = 15
    # The harness scores OK-VQA's raw answers (HuggingFaceM4/OK-VQA_modif), not the stemmed ones.
    task_options: ClassVar[dict[str, dict[str, str]]] = {"okvqa": {"answers": "raw"}}
    template_sets: ClassVar[dict[str, dict[str, dict[str, str | None]]]] = {
        "vqa": _m4_templates("vqa"),
        "caption": _m4_templates("captioning"),
    }
    default_templates: ClassVar[dict[str, str]] = {
        "vqa": str(m4_facts()["vqa"]["selected_template_id_in_scripts"]),
        "caption": str(m4_facts()["captioning"]["selected_template_id_in_scripts"]),
    }
    stop_words: ClassVar[dict[str, tuple[str, ...]]] = {
        "vqa": _m4_stop_words("vqa"),
        "caption": _m4_stop_words("captioning"),
    }


@register_protocol
class Idefics2Instruct(Idefics2Base):
    """The instructed Idefics2's protocol in the same harness, written as text (not through the
    processor's chat template): ``User:<image>{question}\\nGive a very brief
    answer.<end_of_utterance>\\nAssistant: {answer}<end_of_utterance>\\n``, the query ending
    with ``Assistant:``. The harness gives no caption template for it: captions use the base
    protocol's template 7."""

    name = "idefics2-instruct"
    summary = "m4 harness template of the instructed Idefics2, as raw text"
    query_cut: ClassVar[dict[str, str]] = {"vqa": "<end_of_utterance>\n"}
    template_sets: ClassVar[dict[str, dict[str, dict[str, str | None]]]] = {
        "vqa": {"0": dict(m4_facts()["idefics2_instruct"]["vqa_template"]["0"])},
        "caption": _m4_templates("captioning"),
    }
    default_templates: ClassVar[dict[str, str]] = {
        "vqa": "0",
        "caption": str(m4_facts()["captioning"]["selected_template_id_in_scripts"]),
    }
