"""Tasks declared in YAML files: registered beside the Python plugins, run end to end, and
refused with errors naming the file and the field."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from vlm_eval._registry import PluginError
from vlm_eval.cli import main
from vlm_eval.tasks import (
    TASKS,
    CaptionTask,
    DocumentQATask,
    get_task,
    load_tasks,
    resolve_task_data,
)
from vlm_eval.tasks._declared import declared_task

ROOT = Path(__file__).resolve().parent.parent

DOCUMENTS = """\
name: docvqa_declared
version: "1.0"
description: DocVQA pages read from the official files, declared as data.
family: document_qa
format: docvqa
format_args: {json: "{split}/{split}_v1.0_withQT.json"}
eval_split: val
fewshot_split: train
data_folder: docvqa
question_template: "{question}\\nAnswer briefly."
"""


def _declare(folder: Path, text: str, name: str = "task.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_flickr30k_is_a_declared_caption_task(mini_data: Path) -> None:
    load_tasks()
    assert TASKS.origin("flickr30k") == str(ROOT / "tasks" / "flickr30k.yaml")
    assert TASKS.summary("flickr30k").startswith("Flickr30k captioning")
    task = get_task("flickr30k", {"protocol": "idefics2-instruct"})
    assert isinstance(task, CaptionTask)
    assert (task.eval_split, task.fewshot_split, task.hub_dataset) == (
        "test",
        "train",
        "lmms-lab/flickr30k",
    )
    samples = task.load(task.data_path(mini_data), "test")
    assert len(samples) == 16 and all(len(sample.references) == 5 for sample in samples)
    assert all(sample.image.path.parent.name == "flickr30k-images" for sample in samples)
    assert len(task.load(task.data_path(mini_data), "train")) == 8


def test_nocaps_reads_its_coco_style_captions_file(mini_data: Path) -> None:
    load_tasks()
    assert TASKS.origin("nocaps") == str(ROOT / "tasks" / "nocaps.yaml")
    task = get_task("nocaps")
    assert isinstance(task, CaptionTask) and task.hub_dataset == "lmms-lab/NoCaps"
    samples = task.load(task.data_path(mini_data), "val")
    assert len(samples) == 16 and all(len(sample.references) == 5 for sample in samples)
    assert all(sample.image.path.parent.name == "val" for sample in samples)


def test_the_hub_rows_are_read_from_the_declared_columns(mini_data: Path, tmp_path: Path) -> None:
    import datasets

    image = {"bytes": (mini_data / "flickr30k" / "flickr30k-images").glob("*.jpg").__next__()
             .read_bytes(), "path": None}  # fmt: skip
    rows = {"img_id": ["7"], "caption": [[" A dog. ", "A pup."]], "image": [image]}
    features = datasets.Features(
        {"img_id": datasets.Value("string"), "caption": datasets.Sequence(datasets.Value("string"))}
        | {"image": datasets.Image()}
    )
    dataset = datasets.DatasetDict({"test": datasets.Dataset.from_dict(rows, features=features)})
    dataset.save_to_disk(tmp_path / "flickr30k")
    load_tasks()
    task = get_task("flickr30k")
    data = resolve_task_data(task, tmp_path, {}, fewshot=False)
    (sample,) = data.load(task, data.split)
    assert (sample.id, sample.references) == ("7", ("A dog.", "A pup."))


def test_flickr30k_runs_end_to_end_on_the_mini_split(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        ["run", "--model-args", f"pretrained={tiny_model_dir},device=cpu,dtype=float32",
         "--tasks", "flickr30k", "--data-dir", str(mini_data), "--output", str(output),
         "--batch-size", "8", "--num-workers", "0", "--limit", "4"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entry = json.loads((output / "results.json").read_text(encoding="utf-8"))["tasks"]["flickr30k"]
    assert entry["task"]["name"] == "flickr30k" and entry["task"]["main_metric"] == "CIDEr"
    assert "CIDEr" in entry["scores"]["metrics"]
    lines = (output / "samples_flickr30k.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4


def test_a_declared_task_in_an_include_path_is_found_and_set_up(tmp_path: Path) -> None:
    _declare(tmp_path / "plugins", DOCUMENTS)
    load_tasks([tmp_path / "plugins"])
    task = get_task("docvqa_declared")
    assert isinstance(task, DocumentQATask)
    assert task.question_template == "{question}\nAnswer briefly."
    bundled = Path(__file__).resolve().parent.parent / "vlm_eval" / "demo" / "data"
    samples = task.load(task.data_path(bundled), "val")
    assert samples and all(sample.references for sample in samples)


def test_list_tasks_shows_a_declared_task_without_torch(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    _declare(plugins, DOCUMENTS)
    code = (
        "import json, sys\nfrom vlm_eval.cli import main\n"
        "main(['list', 'tasks'], standalone_mode=False)\n"
        "print(json.dumps([m for m in ('torch', 'transformers') if m in sys.modules]))"
    )
    env = os.environ | {"VLM_EVAL_TASKS_PATH": str(plugins)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    *listing, imported = done.stdout.splitlines()
    text = "\n".join(listing)
    assert "docvqa_declared" in text and "DocVQA pages read from the official files" in text
    assert "family DocumentQATask" in text and str(plugins / "task.yaml") in text
    assert "flickr30k" in text and "family CaptionTask" in text
    assert json.loads(imported) == []


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (("family: document_qa", "family: essay"), "family", "unknown family 'essay'"),
        (("format: docvqa", "format: pdf"), "format", "unknown format 'pdf'"),
        (('version: "1.0"\n', ""), "version", "missing"),
        (('version: "1.0"', "version: 1.0"), "version", "expected a non-empty string, got 1.0"),
        (("eval_split: val", "eval_split: [val]"), "eval_split", "expected a non-empty string"),
        (("data_folder: docvqa", "datafolder: docvqa"), "datafolder", "unknown field"),
        (("question_template", "instruction"), "instruction", "unknown field"),
        (("{json:", "{jsn:"), "format_args.jsn", "format 'docvqa' takes ['json', 'images']"),
        (('{json: "{split}/{split}_v1.0_withQT.json"}', "{}"), "format_args.json", "missing"),
        (('{json: "{split}/{split}_v1.0_withQT.json"}', "a.json"), "format_args", "a mapping"),
    ],
)
def test_a_bad_declaration_names_the_file_and_field(
    tmp_path: Path, change: tuple[str, str], field: str, message: str
) -> None:
    assert change[0] in DOCUMENTS
    path = _declare(tmp_path, DOCUMENTS.replace(*change))
    with pytest.raises(PluginError) as caught:
        declared_task(path)
    assert str(caught.value).startswith(f"{path}: field {field!r}: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [("name: [unclosed", "not a readable YAML file"), ("- a list", "expected a mapping")],
)
def test_a_file_that_is_no_declaration_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = _declare(tmp_path / "plugins", text)
    with pytest.raises(PluginError, match=message) as caught:
        load_tasks([tmp_path / "plugins"])
    assert str(caught.value).startswith(str(path))


def test_a_declared_name_taken_by_a_python_task_is_refused(tmp_path: Path) -> None:
    _declare(tmp_path / "plugins", DOCUMENTS.replace("name: docvqa_declared", "name: docvqa"))
    with pytest.raises(PluginError, match=r"task 'docvqa' is defined twice.*task\.yaml"):
        load_tasks([tmp_path / "plugins"])


def test_the_readme_example_declares_a_task(mini_data: Path, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- declared-task-example -->\s*```yaml\n(.*?)```", readme, re.S)
    assert match, "README.md lost its declared task example"
    _declare(tmp_path, match.group(1), "vqav2_one_word.yaml")
    load_tasks([tmp_path])
    task = get_task("vqav2_one_word")
    samples = task.load(task.data_path(mini_data), task.eval_split)
    assert len(samples) == 24 and all(len(sample.references) == 10 for sample in samples)
    (turn,) = task.prompt(samples[0], [])
    assert turn.parts[1] == f"{samples[0].question}\nAnswer with one word."


@pytest.mark.parametrize(
    ("family", "format_line", "feeds"),
    [
        ("vqa", "format: docvqa", "document_qa"),
        ("caption", "format: docvqa", "document_qa"),
        ("document_qa", "format: vizwiz", "vqa"),
        # One reference per question: VQA accuracy would cap every GQA question at 1/3.
        ("vqa", "format: gqa", "exact_match"),
    ],
)
def test_a_family_its_format_cannot_feed_is_refused(
    tmp_path: Path, family: str, format_line: str, feeds: str
) -> None:
    text = DOCUMENTS.replace("family: document_qa", f"family: {family}")
    text = text.replace("format: docvqa", format_line).replace("question_template", "#")
    path = _declare(tmp_path, text)
    with pytest.raises(PluginError) as caught:
        declared_task(path)
    format_name = format_line.split(": ")[1]
    assert str(caught.value) == (
        f"{path}: field 'format': format {format_name!r} feeds family {feeds}, not {family!r}"
    )


def test_every_format_feeds_a_known_family() -> None:
    from vlm_eval.tasks._declared import FAMILIES, FORMATS

    assert all(set(f.families) <= set(FAMILIES) and f.families for f in FORMATS.values())


LMMS_EVAL = """
lmms_eval:
  template: "{question}\\nAnswer in one word."
  capitalize: true
  task_args: {metric: relaxed_accuracy}
"""


def test_a_declared_task_carries_its_lmms_eval_prompt_and_scoring(tmp_path: Path) -> None:
    from vlm_eval.protocols import get_protocol

    _declare(tmp_path, DOCUMENTS + LMMS_EVAL)
    load_tasks([tmp_path])
    assert get_protocol("lmms-eval").options_for("docvqa_declared") == {
        "metric": "relaxed_accuracy"
    }
    task = get_task("docvqa_declared", {"protocol": "lmms-eval"})
    sample = task.load(ROOT / "vlm_eval" / "demo" / "data" / "docvqa", "val")[0]
    (turn,) = task.prompt(sample, [])
    assert turn.parts[1] == f"{sample.question.capitalize()}\nAnswer in one word."
    (chat,) = get_task("docvqa_declared").prompt(sample, [])
    assert chat.parts[1] == f"{sample.question}\nAnswer briefly."


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (("  capitalize: true\n", "  capitalise: true\n"), "lmms_eval.capitalise", "unknown"),
        (("{question}\\n", ""), "lmms_eval.template", "holding {question}"),
        (("{question}\\n", "{answer} {question}"), "lmms_eval.template", "no other field"),
        (("capitalize: true", "capitalize: yes please"), "lmms_eval.capitalize", "true or false"),
        (("{metric: relaxed_accuracy}", "{mode: x}"), "lmms_eval.task_args.mode", "not an option"),
        (("{metric: relaxed_accuracy}", "{protocol: chat}"), "lmms_eval.task_args.protocol",
         "not an option"),
        (("{metric: relaxed_accuracy}", "{metric: 1}"), "lmms_eval.task_args.metric",
         "expected a string"),
        (("{metric: relaxed_accuracy}", "[metric]"), "lmms_eval.task_args", "a mapping"),
    ],
)  # fmt: skip
def test_a_bad_lmms_eval_field_names_the_file_and_field(
    tmp_path: Path, change: tuple[str, str], field: str, message: str
) -> None:
    text = DOCUMENTS + LMMS_EVAL
    assert change[0] in text
    path = _declare(tmp_path, text.replace(*change))
    with pytest.raises(PluginError) as caught:
        declared_task(path)
    assert str(caught.value).startswith(f"{path}: field {field!r}: ")
    assert message in str(caught.value)


def _install_package(
    site: Path, monkeypatch: pytest.MonkeyPatch, package: str, files: dict[str, str]
) -> Path:
    """``package`` (its files) installed into the site folder ``site`` with an entry point of
    the ``vlm_eval.tasks`` group naming it, as ``pip install`` would; returns its folder."""
    folder = site / package
    for name, text in {"__init__.py": '"""Tasks as data."""\n', **files}.items():
        _declare(folder, text, name)
    dist = site / f"{package}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[vlm_eval.tasks]\ntasks = {package}\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(TASKS, "_entry_points_loaded", False)
    return folder


def test_an_installed_package_ships_yaml_tasks_through_the_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site-packages"
    _declare(site, DOCUMENTS.replace("docvqa_declared", "stray"), "stray.yaml")
    declared = DOCUMENTS.replace("docvqa_declared", "acme_docs")
    folder = _install_package(site, monkeypatch, "acme_yaml_tasks", {"docs.yaml": declared})
    assert "acme_docs" in TASKS.names()
    assert TASKS.origin("acme_docs") == str((folder / "docs.yaml").resolve())
    assert isinstance(get_task("acme_docs"), DocumentQATask)
    assert "stray" not in TASKS.names()  # only the package's folder is read, not site-packages


def test_a_bad_yaml_task_of_a_package_names_the_entry_point_file_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = DOCUMENTS.replace("format: docvqa", "format: pdf")
    folder = _install_package(tmp_path, monkeypatch, "acme_bad_tasks", {"bad.yaml": bad})
    with pytest.raises(PluginError) as caught:
        TASKS.names()
    message = str(caught.value)
    assert message.startswith("entry point 'tasks' (acme_bad_tasks) of group 'vlm_eval.tasks'")
    assert f"{folder / 'bad.yaml'}: field 'format': unknown format 'pdf'" in message
