"""OpenFlamingo's evaluation protocol, read from its evaluation code (see ``OpenFlamingo.source``).

Facts and where they were read (mlfoundations/open_flamingo):

- ``open_flamingo/eval/eval_models/open_flamingo.py`` @1c9298d: the prompts
  ``<image>Question:{question} Short answer:{answer}<|endofchunk|>`` and
  ``<image>Output:{caption}<|endofchunk|>``; the query has no answer and no ``<|endofchunk|>``.
  The prompt is tokenized with the tokenizer's defaults (``add_special_tokens=True``): our
  ``{start_tokens}``.
- ``open_flamingo/eval/evaluate.py`` @1c9298d: each demonstration is followed by ``"\\n"``
  (``"".join(prompt(...) + "\\n" ...)``), then the query; a VQA demonstration shows
  ``answers[0]``, a caption one its (Karpathy) caption stripped; at 0-shot OpenFlamingo still
  draws 2 demonstrations (``compute_effective_num_shots``) and keeps their text without the
  ``<image>`` tags or images; demonstrations are drawn per query (``random.sample``) from a
  query set of ``--query_set_size`` 2048 train examples, or by RICES; decoding: 3 beams,
  ``length_penalty`` 0.0, ``min_new_tokens`` 0, ``max_new_tokens`` 5 (VQA), 10 (TextVQA),
  20 (captions); VQA post-processing ``postprocess_vqa_generation`` (OK-VQA
  ``postprocess_ok_vqa_generation``), captions ``postprocess_captioning_generation`` then
  ``.replace('"', "")``.
- ``open_flamingo/eval/eval_datasets.py`` @547ebdc: ``answers`` are the annotations'
  ``answer`` fields in order (OK-VQA v1.1: the stemmed ones); a caption is
  ``sentences[0]["raw"]``.
- ``open_flamingo/eval/vqa_metric.py`` @200a966: ``re.split("Question|Answer|Short", p, 1)[0]``
  then ``re.split(", ", p, 1)[0]``; ``VQAEval`` normalizes prediction and answers always.
- ``open_flamingo/eval/ok_vqa_utils.py`` @2843d1f: OK-VQA cuts at the same pattern only (no
  ``", "`` split), then stems the prediction (the v1.1 stemmer), scored against the stemmed
  answers.
- ``open_flamingo/eval/coco_metric.py`` @1181c42: ``p.split("Output", 1)[0]``.
- ``open_flamingo/src/flamingo.py`` @04236ec: ``generate`` ends at ``<|endofchunk|>`` (its
  ``eos_token_id``), a special token that decoding then skips.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from vlm_eval._arguments import ArgumentsError
from vlm_eval.data import Sample
from vlm_eval.protocols._protocol import TaskKind, register_protocol
from vlm_eval.protocols._template import TemplateProtocol
from vlm_eval.tasks._prompt import GenerationSettings

END_OF_CHUNK = "<|endofchunk|>"
_VQA_CUT = "Question|Answer|Short"
_MAX_NEW_TOKENS = {"vqa": 5, "textvqa": 10, "caption": 20}


@register_protocol
class OpenFlamingo(TemplateProtocol):
    """OpenFlamingo's own evaluation (``open_flamingo/eval``): the tokenizer's start tokens
    then per demonstration ``<image>Question:{question} Short answer:{answer}<|endofchunk|>``
    and a newline (captions: ``<image>Output:{caption}<|endofchunk|>``), then the query
    ``<image>Question:{question} Short answer:`` (``<image>Output:``). The start tokens are
    those its tokenizer call adds by default: BOS for LLaMA/Mistral tokenizers (Idefics2's),
    nothing for GPT-NeoX/MPT ones. ``<|endofchunk|>``, a special token of OpenFlamingo's
    tokenizers, is plain text for a model without it. Generation ends at ``<|endofchunk|>``
    only, not at the model's own end-of-sequence token (OpenFlamingo passes it as
    ``eos_token_id``): for a model without it as one token, at ``max_new_tokens``. A
    zero-shot prompt shows 2 demonstrations as text without their images, as OpenFlamingo does
    (``zero_shot_text_shots=0``: none). A demonstration shows the first human answer (the
    stemmed one for OK-VQA), a caption the first reference; drawn from a fixed random support set
    of 2,048 train examples (its query set), or by RICES. Beam search, 3 beams, length penalty
    0; 5 new tokens for VQA, 10 for TextVQA, 20 for captions; the output ends at
    ``<|endofchunk|>`` (OpenFlamingo's end of generation), VQA answers are cut at the first
    ``Question``, ``Answer`` or ``Short`` and then at the first ``", "`` (OK-VQA: not at the
    comma, then stemmed and scored against the stemmed answers), captions at the first
    ``Output`` with double quotes removed; answers stripped (scoring ignores the spaces).

    Args:
        num_beams: Beams of the search (1: greedy, for adapters without beam search).
        max_new_tokens: New tokens for every task (default: OpenFlamingo's 5, 10 and 20).
        zero_shot_text_shots: Text-only demonstrations of a zero-shot prompt (default 2).
        vqa_template, caption_template: Its one template of each kind, ``openflamingo``.
    """

    name = "openflamingo"
    summary = "OpenFlamingo's eval prompts (Question:/Short answer:, Output:), 3 beams"
    source = (
        "mlfoundations/open_flamingo open_flamingo/eval @1c9298d (evaluate.py, "
        "eval_models/open_flamingo.py); vqa_metric.py @200a966, ok_vqa_utils.py @2843d1f, "
        "coco_metric.py @1181c42, eval_datasets.py @547ebdc, src/flamingo.py @04236ec"
    )
    support_size = 2048
    default_max_new_tokens = _MAX_NEW_TOKENS["vqa"]
    length_penalty: ClassVar[float] = 0.0
    # VQAEval normalizes always; OK-VQA stemmed predictions against the stemmed answers.
    task_options: ClassVar[dict[str, dict[str, str]]] = {
        "vqav2": {"vqa_mode": "normalized"},
        "textvqa": {"vqa_mode": "normalized"},
        "okvqa": {"vqa_mode": "normalized", "answers": "stemmed"},
    }
    query_cut: ClassVar[dict[str, str]] = {"vqa": END_OF_CHUNK, "caption": END_OF_CHUNK}
    template_sets: ClassVar[dict[str, dict[str, dict[str, str | None]]]] = {
        "vqa": {
            "openflamingo": {
                "prefix": "{start_tokens}",
                "example": "<image>Question:{question} Short answer:{answer}<|endofchunk|>\n",
            }
        },
        "caption": {
            "openflamingo": {
                "prefix": "{start_tokens}",
                "example": "<image>Output:{caption}<|endofchunk|>\n",
            }
        },
    }
    default_templates: ClassVar[dict[str, str]] = {"vqa": "openflamingo", "caption": "openflamingo"}
    stop_words: ClassVar[dict[str, tuple[str, ...]]] = {
        "vqa": (END_OF_CHUNK,),
        "caption": (END_OF_CHUNK,),
    }

    def __init__(
        self,
        *,
        num_beams: int = 3,
        max_new_tokens: int | None = None,
        zero_shot_text_shots: int = 2,
        vqa_template: str | None = None,
        caption_template: str | None = None,
    ) -> None:
        super().__init__(
            max_new_tokens=max_new_tokens,
            vqa_template=vqa_template,
            caption_template=caption_template,
        )
        if num_beams < 1 or zero_shot_text_shots < 0:
            raise ArgumentsError(
                f"protocol {self.name!r}: num_beams must be at least 1 and "
                "zero_shot_text_shots at least 0"
            )
        self.asked_max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        self.zero_shot_text_shots = zero_shot_text_shots

    def demonstration(self, kind: TaskKind, sample: Sample) -> str:
        """The first reference: ``answers[0]`` (VQA) or the first caption."""
        return sample.references[0]

    def generation(self, kind: TaskKind, task: Any) -> GenerationSettings:
        return GenerationSettings(
            self._max_new_tokens(kind, task),
            stop=self.stop_words[kind],
            num_beams=self.num_beams,
            length_penalty=self.length_penalty,
            end_token=END_OF_CHUNK,
        )

    def _max_new_tokens(self, kind: TaskKind, task: Any) -> int:
        if self.asked_max_new_tokens is not None:
            return self.asked_max_new_tokens
        return _MAX_NEW_TOKENS.get(task.name, _MAX_NEW_TOKENS[kind])

    def cut(self, kind: TaskKind, text: str, task: Any) -> str:
        text = text.split(END_OF_CHUNK, 1)[0]
        if kind == "caption":
            return text.split("Output", 1)[0].replace('"', "").strip()
        text = re.split(_VQA_CUT, text, maxsplit=1)[0]
        if task.name != "okvqa":
            text = re.split(", ", text, maxsplit=1)[0]
        return text.strip()

    def describe(self, kind: TaskKind, task: Any) -> dict[str, Any]:
        if kind == "caption":
            cut = "at <|endofchunk|>, then at the first 'Output'; '\"' removed; stripped"
        elif task.name == "okvqa":
            cut = "at <|endofchunk|>, then at the first match of 'Question|Answer|Short'; stripped"
        else:
            cut = (
                "at <|endofchunk|>, then at the first match of 'Question|Answer|Short', then at "
                "the first ', '; stripped"
            )
        return {
            "name": self.name,
            "source": self.source,
            "template": self.templates[kind],
            "query": "the example without its answer and <|endofchunk|>",
            "start": "the tokenizer's default start tokens (BOS for LLaMA/Mistral tokenizers)",
            "end_of_generation": "<|endofchunk|> only (not the model's end-of-sequence token)",
            "zero_shot_text_shots": self.zero_shot_text_shots,
            "cut": cut,
            "max_new_tokens": self._max_new_tokens(kind, task),
            "num_beams": self.num_beams,
            "length_penalty": self.length_penalty,
            "demonstration_answer": "first reference (answers[0], sentences[0])",
            "support_size": self.support_size,
        }
