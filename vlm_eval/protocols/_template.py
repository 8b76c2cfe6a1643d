"""Text-template protocols: prompts written as raw text with the model family's image
placeholder, for base checkpoints (no chat template). The machinery shared by the protocols of
Hugging Face's m4 harness (``_m4.py``) and of OpenFlamingo (``_openflamingo.py``)."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

from vlm_eval._arguments import ArgumentsError
from vlm_eval.data import Sample
from vlm_eval.protocols._protocol import (
    Example,
    Protocol,
    TaskKind,
    cut_at_pattern,
)
from vlm_eval.tasks._prompt import (
    GenerationSettings,
    Message,
    Part,
    Prompt,
    SpecialToken,
)

_FIELDS = re.compile(
    r"(\{bos_token\}|\{eos_token\}|\{start_tokens\}|<image>|\{question\}|\{answer\}|\{caption\})"
)


class TemplateProtocol(Protocol):
    """A raw text template per task kind: ``prefix`` then each demonstration's ``example``
    with its answer, then the query's ``example`` with an empty answer, the whole prompt stripped
    of surrounding whitespace. ``{bos_token}`` / ``{eos_token}`` are the tokenizer's special
    tokens, ``{start_tokens}`` those it puts before a text by default (``SpecialToken("start")``),
    and ``<image>`` the model family's image placeholder (Idefics2 without splitting:
    ``<fake_token_around_image>``, 64 ``<image>``, ``<fake_token_around_image>``), or nothing
    for a demonstration shown as text only (``Example.image`` is ``None``). Questions and
    answers are inserted as text, never read as template fields. By default: greedy decoding,
    the output cut at the first match of the stop words joined into a regular expression.

    As Hugging Face's m4 harness does (its ``_create_example_prompt`` callers): demonstrations
    get the tokenizer's EOS for ``{eos_token}``, the query an empty one; the query's example is
    stripped on its own and loses its last ``len(query_cut)`` characters where a template's
    empty answer leaves an end marker (m4's instruct template: ``<end_of_utterance>``), so that
    it ends with ``Assistant:``.

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
            kind: asked.get(kind) or default for kind, default in self.default_templates.items()
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

    def supports(self, kind: TaskKind) -> bool:
        return kind in self.templates

    def prompt(self, kind: TaskKind, query: Example, shots: Sequence[Example], task: Any) -> Prompt:
        template = self.templates[kind]
        parts: list[Part] = []
        if template["prefix"]:
            parts += _fill(template["prefix"], query, eos=False)
        for shot in shots:
            parts += _fill(self._example_template(kind, shot), shot, eos=True)
        asked = _stripped(_joined(_fill(template["example"] or "", query, eos=False)))
        cut = self.query_cut.get(kind, "")
        if cut and asked and isinstance(asked[-1], str):
            asked[-1] = asked[-1][: -len(cut)].rstrip()
        return (Message("raw", tuple(_stripped(_joined(parts + asked)))),)

    def answered(
        self, kind: TaskKind, query: Example, shots: Sequence[Example], task: Any
    ) -> Prompt:
        """The text a base model trained under this protocol learns from: ``prompt``'s text for
        ``query`` after ``shots``, followed by the query's ``answer`` written as a demonstration
        writes it (with its end: template 9's newline, an ``{eos_token}``), nothing stripped
        after it."""
        template = self.templates[kind]
        parts: list[Part] = []
        if template["prefix"]:
            parts += _fill(template["prefix"], query, eos=False)
        for shot in (*shots, query):
            parts += _fill(self._example_template(kind, shot), shot, eos=True)
        joined = _joined(parts)
        if joined and isinstance(joined[0], str):
            joined[0] = joined[0].lstrip()
        return (Message("raw", tuple(part for part in joined if part != "")),)

    def _example_template(self, kind: TaskKind, example: Example) -> str:
        """The template ``example`` is written in: its own kind's, where it has one the
        protocol holds, else ``kind``'s (the query's)."""
        own = example.kind if example.kind in self.templates else kind
        return self.templates[own]["example"] or ""

    def demonstration(self, kind: TaskKind, sample: Sample) -> str:
        """The most common answer (VQA: the references as scored, raw answers for OK-VQA when
        the task scores raw answers; multiple choice: the answer letter), or a reference caption
        drawn at random (seeded by the sample's id, so that a prompt is the same in every
        run)."""
        if kind != "caption":
            return Counter(sample.references).most_common(1)[0][0]
        return random.Random(sample.id).choice(sample.references)

    def generation(self, kind: TaskKind, task: Any) -> GenerationSettings:
        return GenerationSettings(self.max_new_tokens, stop=self.stop_words[kind])

    def cut(self, kind: TaskKind, text: str, task: Any) -> str:
        return cut_at_pattern(text, self.stop_words[kind])

    def describe(self, kind: TaskKind, task: Any) -> dict[str, Any]:
        shown = "a reference caption drawn at random" if kind == "caption" else "most common answer"
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
    tokenizer's EOS if ``eos``, else empty; ``<image>`` is the example's images (none for a
    text-only example; ``Example.image_parts``) and ``{question}`` holds those interleaved in
    it."""
    values: dict[str, list[Part]] = {
        "{bos_token}": [SpecialToken("bos")],
        "{eos_token}": [SpecialToken("eos")] if eos else [],
        "{start_tokens}": [SpecialToken("start")],
        "<image>": [*example.image_parts()],
        "{question}": example.text_parts(example.question),
        "{answer}": [example.answer],
        "{caption}": [example.answer],
    }
    pieces = [piece for piece in _FIELDS.split(template) if piece]
    return [part for piece in pieces for part in values.get(piece, [piece])]


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
