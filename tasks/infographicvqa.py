"""InfographicVQA (Mathew et al., 2022): questions about infographics, ANLS."""

from pathlib import Path
from typing import ClassVar

from vlm_eval.data import Sample, load_docvqa
from vlm_eval.tasks import DocumentQATask, register_task


@register_task
class InfographicVQA(DocumentQATask):
    """Reads the official files of the Robust Reading Competition (ch. 17) in one folder:
    ``infographicsVQA_{split}_v1.0_withQT.json`` (else ``infographicsVQA_{split}_v1.0.json``,
    as the test split's, or ``infographicVQA_{split}_v1.0.json``, as the train split's) with
    the images named by ``image_local_name`` in ``infographicsvqa_images/``; or lmms-lab/DocVQA
    rows (configuration ``InfographicVQA``: ``validation``, ``test``; no train split there).
    ANLS (threshold 0.5), broken down by the answer types, evidence and operations the
    ``withQT`` files give, as the official evaluation does. The test split has no answers: the
    run writes the submission file ``[{"questionId", "answer"}]`` instead of scores."""

    name = "infographicvqa"
    version = "1.0"
    eval_split = "val"
    fewshot_split = "train"
    hub_dataset = "lmms-lab/DocVQA"
    hub_config = "InfographicVQA"
    hub_eval_split = "validation"
    breakdown_fields: ClassVar[dict[str, str]] = {
        "answer_type": "answer_types",
        "evidence": "evidence",
        "operation": "operations",
    }

    def load(self, data_dir: Path, split: str) -> list[Sample]:
        annotated = not split.startswith("test")
        names = [
            f"infographicsVQA_{split}_v1.0_withQT.json",
            f"infographicsVQA_{split}_v1.0.json",
            f"infographicVQA_{split}_v1.0.json",
        ]
        found = [data_dir / name for name in names if (data_dir / name).is_file()]
        json_file = found[0] if found else data_dir / names[0 if annotated else 1]
        images = data_dir / "infographicsvqa_images"
        return load_docvqa(json_file, images, annotated=annotated, image_field="image_local_name")
