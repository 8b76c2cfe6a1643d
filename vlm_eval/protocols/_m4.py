"""The protocols of Hugging Face's own Idefics2 evaluation harness (m4), from the facts in
``idefics2_m4.json`` (read from that harness's source; see its ``source``)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from vlm_eval.protocols._protocol import register_protocol
from vlm_eval.protocols._template import TemplateProtocol
from vlm_eval.tasks._choice import OPTION_LETTER_INSTRUCTION

_FACTS = Path(__file__).with_name("idefics2_m4.json")


@cache
def m4_facts() -> dict[str, Any]:
    """The harness's templates, stop words and notes (``idefics2_m4.json``)."""
    facts: dict[str, Any] = json.loads(_FACTS.read_text(encoding="utf-8"))
    return facts


def _m4_templates(section: str) -> dict[str, dict[str, str | None]]:
    return {key: dict(value) for key, value in m4_facts()[section]["templates"].items()}


def _m4_stop_words(section: str) -> tuple[str, ...]:
    return tuple(m4_facts()[section]["stop_words"])


def _multiple_choice(template: dict[str, str | None], old: str) -> dict[str, str | None]:
    """``template`` (a VQA template) for a multiple-choice question: ``old`` in its example
    (the end of the question) replaced by the question and the option-letter instruction. The
    harness holds no multiple-choice template: this one is vlm-eval's."""
    example = str(template["example"])
    assert old in example, (old, example)
    new = "{question}\n" + OPTION_LETTER_INSTRUCTION
    return {"prefix": template["prefix"], "example": example.replace(old, new, 1)}


def _judged(template: dict[str, str | None], old: str) -> dict[str, str | None]:
    """``template`` (a VQA template) for a question the task writes whole, its hint on the
    answer's form included (MathVista's ``query``): ``old`` in its example (the end of the
    question) replaced by the question alone. vlm-eval's, as the multiple-choice one."""
    example = str(template["example"])
    assert old in example, (old, example)
    return {"prefix": template["prefix"], "example": example.replace(old, "{question}", 1)}


_SOURCE = "Hugging Face's Idefics2 evaluation harness (m4), huggingface/smollm@a041759"
_BASE_VQA = str(m4_facts()["vqa"]["selected_template_id_in_scripts"])
_INSTRUCT_VQA = dict(m4_facts()["idefics2_instruct"]["vqa_template"]["0"])


@register_protocol
class Idefics2Base(TemplateProtocol):
    """The Idefics2 paper's base-model protocol (8-shot table): VQA template 9, caption
    template 7 of the harness (the ids its scripts select; any of its 16 VQA and 9 caption
    templates with ``vqa_template`` / ``caption_template``), 15 new tokens (its scripts use 15
    or 40; the paper does not say: ``max_new_tokens``), demonstrations from a fixed random
    support set of 2,048 train examples, OK-VQA scored raw against raw. Multiple-choice
    questions (options included; the harness has no template for them) go in VQA template 9
    followed by a line ``Answer with the option's letter from the given choices directly.``;
    questions a task writes whole (``judged``: MathVista's with their hint) in VQA template 9
    as they are."""

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
        "multiple_choice": {"0": _multiple_choice(_m4_templates("vqa")[_BASE_VQA], "{question}")},
        "judged": {"0": _judged(_m4_templates("vqa")[_BASE_VQA], "{question}")},
    }
    default_templates: ClassVar[dict[str, str]] = {
        "vqa": _BASE_VQA,
        "caption": str(m4_facts()["captioning"]["selected_template_id_in_scripts"]),
        "multiple_choice": "0",
        "judged": "0",
    }
    stop_words: ClassVar[dict[str, tuple[str, ...]]] = {
        "vqa": _m4_stop_words("vqa"),
        "caption": _m4_stop_words("captioning"),
        "multiple_choice": _m4_stop_words("vqa"),
        "judged": _m4_stop_words("vqa"),
    }


@register_protocol
class Idefics2Instruct(Idefics2Base):
    """The instructed Idefics2's protocol in the same harness, written as text (not through the
    processor's chat template): ``User:<image>{question}\\nGive a very brief
    answer.<end_of_utterance>\\nAssistant: {answer}<end_of_utterance>\\n``, the query ending
    with ``Assistant:``. The harness gives no caption template for it: captions use the base
    protocol's template 7. Multiple-choice questions (options included): the same turn with
    ``Answer with the option's letter from the given choices directly.`` in place of ``Give a
    very brief answer.`` (vlm-eval's; the harness has none); a question the task writes whole
    (``judged``: MathVista's with its hint) alone in place of both lines."""

    name = "idefics2-instruct"
    summary = "m4 harness template of the instructed Idefics2, as raw text"
    query_cut: ClassVar[dict[str, str]] = {
        "vqa": "<end_of_utterance>\n",
        "multiple_choice": "<end_of_utterance>\n",
        "judged": "<end_of_utterance>\n",
    }
    template_sets: ClassVar[dict[str, dict[str, dict[str, str | None]]]] = {
        "vqa": {"0": _INSTRUCT_VQA},
        "caption": _m4_templates("captioning"),
        "multiple_choice": {
            "0": _multiple_choice(_INSTRUCT_VQA, "{question}\nGive a very brief answer.")
        },
        "judged": {"0": _judged(_INSTRUCT_VQA, "{question}\nGive a very brief answer.")},
    }
    default_templates: ClassVar[dict[str, str]] = {
        "vqa": "0",
        "caption": str(m4_facts()["captioning"]["selected_template_id_in_scripts"]),
        "multiple_choice": "0",
        "judged": "0",
    }
