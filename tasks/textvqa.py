"""TextVQA (Singh et al., 2019): questions about text in images, VQA accuracy."""

from pathlib import Path

from vlm_eval.data import Sample, load_textvqa
from vlm_eval.tasks import LmmsEvalPrompt, VQATask, register_task


@register_task
class TextVQA(VQATask):
    """Reads ``TextVQA_0.5.1_{split}.json`` and ``train_images/{image_id}.jpg`` (the official
    layout keeps val images in ``train_images`` too), or lmms-lab/textvqa rows (``train``,
    ``validation``, ``test``). OCR tokens are not given to the model."""

    name = "textvqa"
    version = "1.0"
    eval_split = "val"
    fewshot_split = "train"
    hub_dataset = "lmms-lab/textvqa"
    hub_eval_split = "validation"
    hub_fewshot_split = "train"
    row_metadata = ("set_name",)
    # lmms-eval's textvqa config: the question through str.capitalize(), EvalAI's processor.
    lmms_eval = LmmsEvalPrompt(
        VQATask.question_template, capitalize=True, task_args={"vqa_mode": "evalai"}
    )

    def load(self, data_dir: Path, split: str) -> list[Sample]:
        return load_textvqa(
            json_file=data_dir / f"TextVQA_0.5.1_{split}.json",
            image_dir=data_dir / "train_images",
        )
