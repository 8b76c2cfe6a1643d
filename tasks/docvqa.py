"""DocVQA (Mathew et al., 2021): questions about scanned document pages, ANLS."""

from pathlib import Path

from vlm_eval.data import Sample, load_docvqa
from vlm_eval.tasks import DocumentQATask, register_task


@register_task
class DocVQA(DocumentQATask):
    """Reads ``{split}/{split}_v1.0_withQT.json`` (else ``{split}/{split}_v1.0.json``, as the
    test split's ``test/test_v1.0.json``) with the pages at the paths its ``image`` fields give,
    relative to ``{split}/`` (``documents/xxx.png``), or lmms-lab/DocVQA rows (configuration
    ``DocVQA``: ``train``, ``validation``, ``test``). The test split has no answers: the run
    writes the submission file for the evaluation server (rrc.cvc.uab.es, DocVQA task 1)
    instead of scores."""

    name = "docvqa"
    version = "1.0"
    eval_split = "val"
    fewshot_split = "train"
    hub_dataset = "lmms-lab/DocVQA"
    hub_config = "DocVQA"
    hub_eval_split = "validation"
    hub_fewshot_split = "train"

    def load(self, data_dir: Path, split: str) -> list[Sample]:
        folder = data_dir / split
        with_types = folder / f"{split}_v1.0_withQT.json"
        json_file = with_types if with_types.exists() else folder / f"{split}_v1.0.json"
        return load_docvqa(json_file, folder, annotated=not split.startswith("test"))
