"""The protocols of Hugging Face's own Idefics2 evaluation harness (m4), from the facts in
``idefics2_m4.json`` (read from that harness's source; see its ``source``)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from vlm_eval.protocols._protocol import register_protocol
from vlm_eval.protocols._template import TemplateProtocol

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
