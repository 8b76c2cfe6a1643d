"""OK-VQA (Marino et al., 2019): questions needing outside knowledge, VQA accuracy."""

from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from vlm_eval.data import DatasetRow, Sample, load_vqa
from vlm_eval.metrics import OKVQA_STEMMING, VQAMode, stem_okvqa_answer
from vlm_eval.tasks import LmmsEvalPrompt, VQATask, register_task

OKVQAAnswers = Literal["stemmed", "raw", "mixed"]


@register_task
class OKVQA(VQATask):
    """Reads ``OpenEnded_mscoco_{split}_questions.json``, ``mscoco_{split}_annotations.json`` and
    ``{split}/COCO_{split}_{image_id:012d}.jpg``, or lmms-lab/OK-VQA rows (split ``val2014``
    only).

    The v1.1 annotations hold each human answer twice: stemmed (``answer``) and as typed
    (``raw_answer``). Option ``answers`` scores like with like: ``stemmed`` (default, as
    OpenFlamingo) stems the predictions and scores them against ``answer``; ``raw`` (as Hugging
    Face's m4 harness) scores the predictions as they are against ``raw_answer``. ``mixed``
    scores the predictions as they are against the stemmed ``answer``, as lmms-eval does: it
    biases every score down, and is there only to put a score beside that harness's tables.
    Demonstrations answer with the same kind as the references. Rows whose ``answers`` are
    strings (lmms-lab/OK-VQA) hold the stemmed answers only."""

    name = "okvqa"
    version = "1.0"
    eval_split = "val2014"
    fewshot_split = "train2014"
    hub_dataset = "lmms-lab/OK-VQA"
    hub_eval_split = "val2014"
    # lmms-eval's ok_vqa config: its post_prompt, EvalAI's answer processor, the predictions as
    # generated against the stemmed answers.
    lmms_eval = LmmsEvalPrompt(
        "{question}\nWhen the provided information is insufficient, respond with 'Unanswerable'."
        "\nAnswer the question using a single word or phrase.",
        task_args={"vqa_mode": "evalai", "answers": "mixed"},
    )

    def __init__(
        self,
        *,
        vqa_mode: VQAMode = "normalized",
        protocol: str = "chat",
        answers: OKVQAAnswers = "stemmed",
    ) -> None:
        super().__init__(vqa_mode=vqa_mode, protocol=protocol)
        self.answers = answers

    def load(self, data_dir: Path, split: str) -> list[Sample]:
        return load_vqa(
            questions_file=data_dir / f"OpenEnded_mscoco_{split}_questions.json",
            annotations_file=data_dir / f"mscoco_{split}_annotations.json",
            image_dir=data_dir / split,
            image_name=f"COCO_{split}_{{image_id:012d}}.jpg",
            answer_field="raw_answer" if self.answers == "raw" else "answer",
        )

    def sample_from_row(self, row: DatasetRow) -> Sample:
        """As ``VQATask.sample_from_row``; with ``answers=raw`` the references are the
        ``raw_answer`` of each answer object (rows of strings have none: refused)."""
        sample = super().sample_from_row(row)
        if self.answers != "raw" or not sample.references:
            return sample
        if not isinstance(row.data["answers"][0], dict):
            raise row.error(
                "answers",
                "strings: the stemmed answers only, no 'raw_answer', which answers=raw scores "
                "against; use the official v1.1 annotations (mscoco_*_annotations.json) or "
                "answers=stemmed",
            )
        return replace(sample, references=row.strings("answers", "raw_answer"))

    def postprocess(self, text: str) -> str:
        answer = super().postprocess(text)
        return stem_okvqa_answer(answer) if self.answers == "stemmed" else answer

    def scoring_protocol(self) -> dict[str, Any]:
        stemming = {"answer_stemming": OKVQA_STEMMING} if self.answers == "stemmed" else {}
        return super().scoring_protocol() | {"answers": self.answers} | stemming
