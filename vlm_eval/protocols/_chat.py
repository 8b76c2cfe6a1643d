"""The ``chat`` protocol: each task's own instruction in the checkpoint's chat template."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vlm_eval.protocols._protocol import (
    Example,
    Protocol,
    TaskKind,
    cut_at_strings,
    register_protocol,
)
from vlm_eval.tasks._prompt import GenerationSettings, ImagePart, Message, Prompt


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
            messages.append(self._turn(kind, shot, task))
            messages.append(Message("assistant", (shot.answer,)))
        messages.append(self._turn(kind, query, task))
        return tuple(messages)

    @staticmethod
    def _turn(kind: TaskKind, example: Example, task: Any) -> Message:
        text = (
            task.question_template.format(question=example.question)
            if kind == "vqa"
            else task.instruction
        )
        return Message("user", (ImagePart(example.image), text))

    def generation(self, kind: TaskKind, task: Any) -> GenerationSettings:
        return type(task).generation

    def cut(self, kind: TaskKind, text: str, task: Any) -> str:
        return cut_at_strings(text, type(task).generation.stop)

    def describe(self, kind: TaskKind, task: Any) -> dict[str, Any]:
        text = (
            {"question_template": task.question_template}
            if kind == "vqa"
            else {"instruction": task.instruction}
        )
        return {"name": self.name, **text}
