"""The task plugin API: built-in tasks, prompts, plugin folders, entry points, few-shot draws."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from vlm_eval._registry import PluginError, UnknownNameError
from vlm_eval.data import Sample
from vlm_eval.runner import choose_shots
from vlm_eval.tasks import (
    TASKS,
    ImagePart,
    Message,
    get_task,
    load_tasks,
    resolve_task_names,
)

README = Path(__file__).parents[1] / "README.md"
BUILTIN = ["coco_caption", "okvqa", "textvqa", "vqav2"]


@pytest.fixture(autouse=True, scope="module")
def _builtin_tasks() -> None:
    load_tasks()


def test_the_four_builtin_tasks_are_registered_from_the_tasks_folder() -> None:
    assert set(BUILTIN) <= set(TASKS.names())
    for name in BUILTIN:
        assert TASKS.origin(name).endswith(f"tasks/{name}.py")


def test_all_resolves_to_every_task_and_unknown_names_list_valid_ones() -> None:
    assert set(BUILTIN) <= set(resolve_task_names("all"))
    assert resolve_task_names("vqav2, coco_caption,vqav2") == ["vqav2", "coco_caption"]
    with pytest.raises(UnknownNameError, match=r"unknown task 'vqa3'.*coco_caption.*vqav2"):
        resolve_task_names("vqav2,vqa3")


def test_vqa_zero_shot_prompt_is_the_image_then_the_instruction(mini_data: Path) -> None:
    task = get_task("vqav2")
    sample = task.load(mini_data / "vqav2", task.eval_split)[0]
    prompt = task.prompt(sample, [])
    assert prompt == (
        Message(
            "user",
            (
                ImagePart(sample.image),
                f"{sample.question}\nAnswer the question using a single word or phrase.",
            ),
        ),
    )


def test_few_shot_prompt_puts_demonstrations_as_answered_turns(mini_data: Path) -> None:
    task = get_task("okvqa")
    pool = task.load(mini_data / "okvqa", task.fewshot_split)
    sample = task.load(mini_data / "okvqa", task.eval_split)[0]
    shots = choose_shots(sample, pool, 2, seed=0, task="okvqa")
    prompt = task.prompt(sample, shots)
    assert [m.role for m in prompt] == ["user", "assistant", "user", "assistant", "user"]
    majority = max(shots[0].references, key=shots[0].references.count)  # OK-VQA: no MC answer
    assert prompt[1].parts == (majority,)
    assert prompt[2].parts[0] == ImagePart(shots[1].image)


def test_caption_prompt_and_postprocessing_cut_at_stop_strings() -> None:
    task = get_task("coco_caption")
    sample = Sample(id="1", image=Path("a.jpg"), references=("a cat", "a kitten"))
    assert task.prompt(sample, [])[-1].parts[1] == (
        "Provide a one-sentence caption for the provided image."
    )
    assert task.postprocess("  a red circle.\nUser: more") == "a red circle."
    assert task.generation.max_new_tokens == 64
    assert get_task("vqav2").generation.max_new_tokens == 16


def test_shots_are_reproducible_and_never_show_the_query_image() -> None:
    pool = [
        Sample(
            id=str(i),
            image=Path(f"{i // 2}.jpg"),
            references=("x",),
            metadata={"image_id": str(i // 2)},
        )
        for i in range(40)
    ]
    query = pool[10]
    first = choose_shots(query, pool, 8, seed=3, task="t")
    assert first == choose_shots(query, pool, 8, seed=3, task="t")
    assert first != choose_shots(query, pool, 8, seed=4, task="t")
    assert len({s.id for s in first}) == 8
    assert all(s.metadata["image_id"] != "5" for s in first)
    with pytest.raises(ValueError, match="fewer than 3 demonstrations usable for sample 0"):
        choose_shots(pool[0], pool[:2], 3, seed=0, task="t")


def readme_task_example() -> str:
    """The complete new-task example shown in the README (kept in sync by this test)."""
    match = re.search(r"<!-- task-example -->\s*```python\n(.*?)```", README.read_text(), re.S)
    assert match, "README.md lost its task example block"
    return match.group(1)


def test_a_task_file_in_an_include_folder_is_registered(tmp_path: Path) -> None:
    (tmp_path / "vqav2_yesno.py").write_text(readme_task_example())
    load_tasks([tmp_path])
    task = get_task("vqav2_yesno")
    assert TASKS.origin("vqav2_yesno") == str((tmp_path / "vqav2_yesno.py").resolve())
    assert task.version == "1.0"


def test_a_second_definition_of_a_name_is_refused_naming_both_files(tmp_path: Path) -> None:
    (tmp_path / "clash.py").write_text(
        textwrap.dedent(
            """
            from vlm_eval.tasks import register_task
            from vlm_eval.builtin_tasks.vqav2 import VQAv2

            @register_task
            class Clash(VQAv2):
                name = "vqav2"
            """
        )
    )
    with pytest.raises(
        PluginError, match=r"task 'vqav2' is defined twice: in .*vqav2.py and in .*clash.py"
    ):
        load_tasks([tmp_path])


def test_a_broken_plugin_file_is_reported_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def oops(:\n")
    with pytest.raises(PluginError, match=r"broken.py: plugin failed to import"):
        load_tasks([tmp_path])


def test_a_missing_include_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="does not exist"):
        load_tasks([tmp_path / "nope"])


def test_installed_packages_register_tasks_through_the_entry_point(
    install_plugin_package: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = readme_task_example().replace('"vqav2_yesno"', '"acme_brief"')
    install_plugin_package("acme_tasks", source, "vlm_eval.tasks")
    monkeypatch.setattr(TASKS, "_entry_points_loaded", False)
    assert "acme_brief" in TASKS.names()
    assert "acme_tasks" in sys.modules
