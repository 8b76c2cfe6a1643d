"""The ``chat`` protocol: each task's own instruction in the checkpoint's chat template."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from vlm_eval.protocols._protocol import (
    Example,
    Protocol,
    TaskKind,
    cut_at_strings,
    register_protocol,
)
from vlm_eval.tasks._choice import OPTION_LETTER_INSTRUCTION
from vlm_eval.tasks._prompt import GenerationSettings, Message, Prompt
from vlm_eval.tasks._registry import TASKS


@register_protocol
class ChatProtocol(Protocol):
    """Instruction-tuned checkpoints: the lmms-eval style instruction (the task's
    ``question_template`` or ``instruction``) as a user turn of the chat template;
    demonstrations are earlier user/assistant turns answered with the majority answer (VQA) or
    the first reference caption. Generation and cutting are the task's own."""

    name = "chat"
    summary = "the task's instruction in the checkpoint's chat template (instruction-tuned models)"
    source = "vlm-eval; VQA and caption instructions as lmms-eval's"

    def prompt(self, kind: TaskKind, query: Example, shots: Sequence[Example], task: Any) -> Prompt:
        messages: list[Message] = []
        for shot in shots:
            messages.append(self._turn(shot.kind or kind, shot, task))
            messages.append(Message("assistant", (shot.answer,)))
        messages.append(self._turn(kind, query, task))
        return tuple(messages)

    def _turn(self, kind: TaskKind, example: Example, task: Any) -> Message:
        text = self.text(kind, example.question, task)
        return Message("user", (*example.image_parts(), *example.text_parts(text)))

    def text(self, kind: TaskKind, question: str, task: Any) -> str:
        """The text of a user turn: the task's question template or caption instruction."""
        if kind == "caption":
            return str(task.instruction)
        if kind == "vqa" and task.kind == "multiple_choice":  # an open question (MMMU)
            return str(task.open_question_template.format(question=question))
        return str(task.question_template.format(question=question))

    def generation(self, kind: TaskKind, task: Any) -> GenerationSettings:
        return type(task).generation

    def cut(self, kind: TaskKind, text: str, task: Any) -> str:
        return cut_at_strings(text, type(task).generation.stop)

    def describe(self, kind: TaskKind, task: Any) -> dict[str, Any]:
        text = (
            {"instruction": task.instruction}
            if kind == "caption"
            else {"question_template": self.text(kind, "{question}", task)}
        )
        return {"name": self.name, **text}


_SHORT_ANSWER = "\nAnswer the question using a single word or phrase."


@register_protocol
class LmmsEvalProtocol(ChatProtocol):
    """lmms-eval's task configs, in the chat template: ``{question}`` then ``\nAnswer the
    question using a single word or phrase.``, multiple-choice questions (options included)
    then ``\nAnswer with the option's letter from the given choices directly.`` (its MMBench
    ``post_prompt``), captions ``Provide a one-sentence caption for the provided image.``;
    generation as each task's own (16 new tokens for VQA, 64 for captions, cut at the first
    newline). VQAv2 is scored with the official normalization always (``vqa_mode=normalized``),
    as lmms-eval scores it. A task whose lmms-eval config asks or scores otherwise carries that
    text and the scoring options it amounts to (``ProtocolTask.lmms_eval``; a YAML
    declaration's ``lmms_eval`` field): TextVQA the question through Python's
    ``str.capitalize()``, OK-VQA ``\nWhen the provided information is insufficient, respond
    with 'Unanswerable'.`` before the last line, VizWiz-VQA both, each scored through EvalAI's
    answer processor (``vqa_mode=evalai``), OK-VQA's predictions as generated against the
    stemmed answers (``answers=mixed``); so that a score stands beside its tables."""

    name = "lmms-eval"
    summary = "lmms-eval's prompts and scoring, in the chat template"
    source = "EvolvingLMMs-Lab/lmms-eval task configs (vqav2, textvqa, ok_vqa, coco_cap, mmbench)"
    task_options: ClassVar[dict[str, dict[str, str]]] = {
        "vqav2": {"vqa_mode": "normalized"},
    }

    def options_for(self, task_name: str) -> dict[str, str]:
        own = getattr(TASKS.get(task_name), "lmms_eval", None)  # ProtocolTask.lmms_eval
        return super().options_for(task_name) | (dict(own.task_args) if own else {})

    def text(self, kind: TaskKind, question: str, task: Any) -> str:
        if task.lmms_eval is not None:
            return str(task.lmms_eval.text(question, kind))
        if kind == "caption":
            return "Provide a one-sentence caption for the provided image."
        if kind == "judged":  # the task writes lmms-eval's prompt of it (MathVista's format-prompt)
            return question
        if kind == "multiple_choice":
            return f"{question}\n{OPTION_LETTER_INSTRUCTION}"
        return question + _SHORT_ANSWER

    def describe(self, kind: TaskKind, task: Any) -> dict[str, Any]:
        capitalized = task.lmms_eval is not None and task.lmms_eval.capitalize
        return {
            "name": self.name,
            "source": self.source,
            "text": self.text(kind, "{question}", task),
            "question": "str.capitalize()" if capitalized else "as given",
        }
