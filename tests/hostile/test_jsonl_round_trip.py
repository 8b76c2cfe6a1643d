"""Property: any record, whatever text it holds, is read back from a run folder exactly as it
was written, and one line stays one record (no character but ``\\n`` ends a line)."""

from __future__ import annotations

import json
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import example, given, settings
from hypothesis import strategies as st

from vlm_eval._files import jsonl_line, jsonl_lines
from vlm_eval.runner import JsonlPredictionStore

# Every code point, lone surrogates and line separators included.
ANY_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF))
SEPARATORS = st.sampled_from(["\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c"])
HOSTILE_TEXT = st.lists(st.one_of(ANY_TEXT, SEPARATORS, st.just("\ud800"))).map("".join)


def _as_json_reads(text: str) -> str:
    """``text`` as a JSON reader gets it back: JSON writes a lone surrogate as a ``\\u`` escape,
    and a high one escaped right before a low one is, by definition, the character of that pair
    (``"\\ud800\\udc00"`` is U+10000): a Python string cannot keep the two apart there."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _record(key: str, text: str, metadata: dict[str, str]) -> dict[str, object]:
    text = _as_json_reads(text)
    return {
        "request_key": key,
        "sample_id": text,
        "raw_output": text,
        "metadata": {_as_json_reads(k): _as_json_reads(v) for k, v in metadata.items()},
        "prompt_tokens": 1,
        "visual_tokens": 0,
        "generated_tokens": 2,
    }


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(HOSTILE_TEXT, st.dictionaries(HOSTILE_TEXT, HOSTILE_TEXT, max_size=3)), min_size=1
    )
)
@example([("\ud800\udc00", {"\udbff": "\udfff\ud800"})])  # surrogates that make pairs
def test_records_of_any_text_come_back_unchanged(
    items: list[tuple[str, dict[str, str]]],
) -> None:
    records = [_record(str(i), text, metadata) for i, (text, metadata) in enumerate(items)]
    with TemporaryDirectory() as folder:
        root = Path(folder)
        store = JsonlPredictionStore(
            root / "samples.jsonl", root / "timing.jsonl", root / "kept.jsonl"
        )
        for record in records:
            store.append([record], seconds=0.5)
        store.close()
        data = (root / "samples.jsonl").read_bytes()
        assert data.count(b"\n") == len(records)
        assert list(store.records()) == records
        # Every other record as appended (its bytes copied), the others written again.
        store.finish((r["request_key"], r if i % 2 else None) for i, r in enumerate(records[::-1]))
        assert list(store.records()) == records[::-1]


@given(HOSTILE_TEXT)
def test_one_item_is_one_line(text: str) -> None:
    line = jsonl_line({"text": text})
    assert line.count("\n") == 1 and line.endswith("\n")
    ((number, read),) = list(jsonl_lines(line.encode("utf-8")))
    assert number == 1 and read is not None and json.loads(read) == {"text": text}
