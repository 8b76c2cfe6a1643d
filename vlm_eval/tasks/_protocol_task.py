"""The base of the task families that are asked through a protocol (``vlm_eval.protocols``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from vlm_eval._arguments import ArgumentsError
from vlm_eval.data import Sample
from vlm_eval.tasks._prompt import Prompt
from vlm_eval.tasks._task import Task

if TYPE_CHECKING:  # protocols build prompts from vlm_eval.tasks: imported when first used
    from vlm_eval.protocols import ImagePlacement, Protocol, TaskKind


@dataclass(frozen=True, slots=True)
class LmmsEvalPrompt:
    """A task's text under the ``lmms-eval`` protocol, as lmms-eval's config of the task has it
    (``doc_to_text`` and its ``post_prompt``), where it differs from that protocol's default.

    Attributes:
        template: The user turn's text; ``{question}`` is the question.
        capitalize: The question goes through Python's ``str.capitalize()`` first (first
            letter upper-cased, the rest lower-cased), as several of its ``doc_to_text`` do.
        task_args: The scoring options lmms-eval's scoring of the task amounts to, as
            ``--task-args`` values (``vqa_mode=evalai``: its EvalAI answer processor); options
            the user gives win.
        kind_templates: The text of the task's questions of another kind than its own, by
            kind (MMMU's open questions, ``vqa``, among multiple-choice ones).
    """

    template: str
    capitalize: bool = False
    task_args: Mapping[str, str] = field(default_factory=dict)
    kind_templates: Mapping[str, str] = field(default_factory=dict)

    def text(self, question: str, kind: str | None = None) -> str:
        """The text asking ``question``, a question of ``kind`` (``None``: the task's)."""
        template = self.kind_templates.get(kind, self.template) if kind else self.template
        return template.format(question=question.capitalize() if self.capitalize else question)


class ProtocolTask(Task):
    """A task asked and read back as its protocol says for the task's ``kind``: the protocol's
    templates build the prompts, its decoding settings generate the answers, its cutting reads
    them, and its description is recorded. The families (VQA, caption, document QA, multiple
    choice) add how samples are loaded and scored."""

    kind: ClassVar[TaskKind]
    image_placement: ImagePlacement = "first"
    """Where the images of samples that show several go (``vlm_eval.protocols.Example``)."""
    lmms_eval: ClassVar[LmmsEvalPrompt | None] = None
    """The task's own text under the ``lmms-eval`` protocol; ``None``: the protocol's default
    for the task's kind."""
    prompting: Protocol

    def use_protocol(self, name: str) -> None:
        """Ask and read answers as the protocol ``name`` says.

        Raises:
            ArgumentsError: For an unknown protocol (a bad ``--task-args`` value), or one
                without a prompt for the task's kind.
        """
        from vlm_eval.protocols import get_protocol

        try:
            self.prompting = get_protocol(name)
        except ValueError as error:
            raise ArgumentsError(f"task {self.name!r}: {error}") from None
        if not self.prompting.supports(self.kind):
            raise ArgumentsError(
                f"task {self.name!r}: protocol {self.prompting.name!r} has no {self.kind} "
                "prompt; give the task another protocol (vlm-eval list protocols)"
            )
        self.generation = self.prompting.generation(self.kind, self)
        self.fewshot_support_size = self.prompting.support_size
        self.zero_shot_text_shots = self.prompting.zero_shot_text_shots

    def prompt(self, sample: Sample, shots: Sequence[Sample], *, text_only: bool = False) -> Prompt:
        """The protocol's prompt; ``text_only``: the demonstrations without their images."""
        from vlm_eval.protocols import Example

        protocol = self.prompting
        examples = [
            Example(
                None if text_only else shot.image,
                shot.question or "",
                protocol.demonstration(self.sample_kind(shot), shot),
                more_images=shot.more_images,
                placement=self.image_placement,
                kind=self.sample_kind(shot),
            )
            for shot in shots
        ]
        query = Example(
            sample.image,
            sample.question or "",
            more_images=sample.more_images,
            placement=self.image_placement,
        )
        return protocol.prompt(self.sample_kind(sample), query, examples, self)

    def sample_kind(self, sample: Sample) -> TaskKind:
        """The kind of prompt ``sample`` is asked with: the task's ``kind``; a family that
        mixes kinds says which (MMMU's open questions among multiple-choice ones)."""
        return self.kind

    def postprocess(self, text: str) -> str:
        return self.prompting.cut(self.kind, text, self)

    def submission_entry(self, sample: Sample, prediction: str) -> dict[str, Any]:
        """The sample's id (an integer where the official files have one) and the prediction,
        under ``prediction_fields``: the benchmark's results format."""
        id_field, text_field = self.prediction_fields
        sample_id = int(sample.id) if sample.id.isascii() and sample.id.isdigit() else sample.id
        return {id_field: sample_id, text_field: prediction}

    def protocol(self) -> dict[str, Any]:
        return {"protocol": self.prompting.describe(self.kind, self)}
