"""The openai adapter against a server that misbehaves: malformed, oversized and failed answers.

Every malformed answer must be a ``ServerError`` naming the URL, the request and the field;
answers received before a request of the batch failed must reach the run's records.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from click.testing import CliRunner

from tests.openai_server import (
    FakeChatServer,
    Scripted,
    complete,
    completion,
    model_input,
    openai_adapter,
    record_backoffs,
)
from vlm_eval.cli import main
from vlm_eval.models import (
    Generation,
    PartialGenerationError,
    ServerError,
    _openai,
    create_model,
)
from vlm_eval.models._openai import (
    ANSWER_CHARS_PER_TOKEN,
    OpenAIAdapter,
    _backoff,
    _read_body,
    body_limit,
)
from vlm_eval.runner import RunConfig, run_evaluation
from vlm_eval.tasks import GenerationSettings, get_task, load_tasks

SETTINGS = GenerationSettings(max_new_tokens=16)
QUESTION = "What colour is it?"
HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
BAD_REQUEST: Scripted = (400, {}, {"error": {"message": "image too large"}})

pytestmark = pytest.mark.usefixtures("openai_environment")


def _ok(body: Any, headers: dict[str, str] | None = None) -> Scripted:
    return (200, headers or {}, body)


def _usage(**counts: Any) -> Scripted:
    return _ok(completion("red", usage={"prompt_tokens": 10, "completion_tokens": 1, **counts}))


def _choice(choice: Any) -> Scripted:
    return _ok(completion("red", choices=[choice]))


MALFORMED = [
    # (what the server answers, the start of the error after the URL)
    pytest.param(
        _ok(completion(42)),
        "choices[0].message.content: expected a string or a list of text parts, got a number",
        id="content-number",
    ),
    pytest.param(
        _ok(completion({"text": "red"})),
        "choices[0].message.content: expected a string or a list of text parts, got an object",
        id="content-object",
    ),
    pytest.param(
        _ok(completion([1, 2])),
        "choices[0].message.content[0]: expected a text part, got a number",
        id="content-list-of-numbers",
    ),
    pytest.param(
        _ok(completion([{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {}}])),
        "choices[0].message.content[1]: expected a text part, got an object of type 'image_url'",
        id="content-image-part",
    ),
    pytest.param(
        _ok(completion([{"type": "text", "text": 7}])),
        "choices[0].message.content[0]: expected a text part, got an object of type 'text' "
        "whose text is a number 7",
        id="content-text-part-number",
    ),
    pytest.param(
        _choice({"message": {"role": "assistant", "content": None}, "finish_reason": "length"}),
        "choices[0].message.content: expected a string or a list of text parts, got null "
        "(finish_reason: 'length': max_tokens=16 ran out before any answer)",
        id="content-null-length",
    ),
    pytest.param(
        _choice({"message": {"role": "assistant"}, "finish_reason": "stop"}),
        "choices[0].message.content: expected a string or a list of text parts, got nothing",
        id="content-missing",
    ),
    pytest.param(
        _choice({"message": "red", "finish_reason": "stop"}),
        "choices[0].message: expected an object, got a string",
        id="message-string",
    ),
    pytest.param(
        _choice({"text": "red", "finish_reason": "stop"}),  # the legacy completions format
        "choices[0].message: expected an object, got nothing",
        id="message-missing",
    ),
    pytest.param(
        _choice("red"), "choices[0]: expected an object, got a string", id="choice-string"
    ),
    pytest.param(_choice(None), "choices[0]: expected an object, got null", id="choice-null"),
    pytest.param(
        _ok(completion("red", choices=[])),
        "choices: expected a non-empty list, got an empty list",
        id="choices-empty",
    ),
    pytest.param(
        _ok(completion("red", choices={"0": {}})),
        "choices: expected a non-empty list, got an object",
        id="choices-object",
    ),
    pytest.param(
        _ok({"object": "chat.completion"}),
        "choices: expected a non-empty list, got nothing",
        id="choices-missing",
    ),
    pytest.param(
        _ok(completion("red", usage=[10, 1])),
        "usage: expected an object, got a list",
        id="usage-list",
    ),
    pytest.param(
        _usage(prompt_tokens="10"),
        "usage.prompt_tokens: expected a token count (an integer from 0 to 1000000000), "
        "got a string '10'",
        id="count-string",
    ),
    pytest.param(
        _usage(completion_tokens=-1),
        "usage.completion_tokens: expected a token count",
        id="count-negative",
    ),
    pytest.param(
        _usage(prompt_tokens=10.5),
        "usage.prompt_tokens: expected a token count (an integer from 0 to 1000000000), "
        "got a number 10.5",
        id="count-float",
    ),
    pytest.param(
        _usage(completion_tokens=True),
        "usage.completion_tokens: expected a token count (an integer from 0 to 1000000000), "
        "got true",
        id="count-bool",
    ),
    pytest.param(
        _usage(prompt_tokens=10**30), "usage.prompt_tokens: expected a token count", id="count-huge"
    ),
    pytest.param(
        _ok(b'{"choices": [{"message": {"content": "red"}}], "usage": {"prompt_tokens": NaN}}'),
        "usage.prompt_tokens: expected a token count (an integer from 0 to 1000000000), "
        "got a number nan",
        id="count-nan",
    ),
    pytest.param(
        _ok(b'{"choices": [{"message": {"content": "a\\ud800b"}}]}'),
        "choices[0].message.content: not Unicode text: a lone surrogate \\ud800 at character 1",
        id="content-lone-surrogate",
    ),
    pytest.param(
        _ok(b'{"choices": [{"message": {"content": "caf\xe9"}}]}'),
        "body: not UTF-8 text: byte 0xe9 at offset 41",
        id="not-utf-8",
    ),
    pytest.param(
        _ok(HTML, {"Content-Type": "text/html"}),
        "body: not JSON (Content-Type text/html: Expecting value: line 1 column 1 (char 0)): "
        "<html><body><h1>502 Bad Gateway",
        id="html-page",
    ),
    pytest.param(_ok(b""), "body: not JSON", id="empty-body"),
    pytest.param(
        _ok(b'{"choices": [{"message": {"content": "re'), "body: not JSON", id="truncated-json"
    ),
    pytest.param(
        _ok([completion("red")]), "body: expected a JSON object, got a list", id="json-array"
    ),
    pytest.param(_ok("red"), "body: expected a JSON object, got a string 'red'", id="json-string"),
    pytest.param(_ok(None), "body: expected a JSON object, got null", id="json-null"),
    pytest.param(
        _ok(b"[" * 100_000 + b"]" * 100_000), "body: JSON nested too deeply", id="deep-array"
    ),
    pytest.param(
        _ok(b'{"choices": ' + b'[{"a": ' * 50_000 + b"1" + b"}]" * 50_000 + b"}"),
        "body: JSON nested too deeply",
        id="deep-in-a-field",
    ),
    pytest.param(
        _ok(b'{"usage": {"prompt_tokens": 1' + b"0" * 5000 + b"}}"),
        "body: not JSON",
        id="number-of-5000-digits",
    ),
    pytest.param(
        _ok(json.dumps(completion("red")).encode(), {"Content-Encoding": "gzip"}),
        "body: cannot be decoded as its Content-Encoding gzip says",
        id="gzip-lie",
    ),
    pytest.param(
        (400, {"Content-Type": "text/html"}, HTML),
        "HTTP 400: <html><body><h1>502 Bad Gateway</h1></body></html>",
        id="error-html-page",
    ),
    pytest.param(
        (404, {}, b"\xff\xfe not found \x1b[31m"),
        "HTTP 404: \ufffd\ufffd not found \\x1b[31m",
        id="error-page-binary-with-escapes",
    ),
]


@pytest.mark.parametrize(("response", "field"), MALFORMED)
def test_a_malformed_answer_is_a_server_error_naming_url_request_and_field(
    server: FakeChatServer, response: Scripted, field: str
) -> None:
    server.script = [response]
    with pytest.raises(ServerError) as caught:
        openai_adapter(server).generate([model_input(QUESTION)], SETTINGS)
    assert type(caught.value) is ServerError
    message = str(caught.value)
    assert message.startswith(f"{server.base_url}/chat/completions: {field}")
    assert message.endswith(f'(request 1 of 1 of the batch: "{QUESTION}")')
    assert len(server.received) == 1  # not retried: the server would answer the same


@pytest.mark.parametrize(
    ("content", "text"),
    [
        pytest.param(
            [{"type": "text", "text": "red "}, {"type": "text", "text": "car"}],
            "red car",
            id="text-parts",
        ),
        pytest.param([], "", id="no-parts"),
        pytest.param("a\x00b\x1b[31mc\td\u2028e", "a\x00b\x1b[31mc\td\u2028e", id="controls"),
        pytest.param("\U0001f600 ok", "\U0001f600 ok", id="surrogate-pair"),
    ],
)
def test_answers_a_server_may_send_are_taken(
    server: FakeChatServer, content: Any, text: str
) -> None:
    server.script = [_ok(completion(content))]
    (generation,) = openai_adapter(server).generate([model_input(QUESTION)], SETTINGS)
    assert generation.text == text
    assert (generation.prompt_tokens, generation.generated_tokens) == (0, 0)  # no usage


def test_garbage_in_retry_after_falls_back_to_backoff(
    server: FakeChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.script = [(503, {"Retry-After": "soon, promise"}, {"error": "busy"})]
    backoffs = record_backoffs(monkeypatch)
    (generation,) = openai_adapter(server, max_retries=1).generate(
        [model_input(QUESTION)], SETTINGS
    )
    assert generation.text.endswith(QUESTION)
    assert backoffs == [0.5]  # the first backoff, not the longest Retry-After


@pytest.mark.parametrize(
    ("retry_after", "seconds"),
    [
        (None, 0.5),
        ("2", 2.0),
        ("0", 0.0),
        ("soon", 0.5),
        ("nan", 0.5),
        ("-3", 0.5),
        ("inf", 60.0),
        ("1e999", 60.0),
        ("9" * 5000, 60.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.5),
    ],
)
def test_retry_after_is_bounded(retry_after: str | None, seconds: float) -> None:
    assert _backoff(0, retry_after) == seconds


def _huge_body(size: int) -> Iterator[bytes]:
    """A chat completion of ``size`` bytes of answer, sent in pieces as it is made."""
    yield b'{"choices": [{"message": {"content": "'
    for _ in range(size // 65536):
        yield b"a" * 65536
    yield b'"}}]}'


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(_ok(_huge_body(50_000_000)), id="chunked"),
        pytest.param(
            _ok(b'{"choices": [{"message": {"content": "' + b"a" * 50_000_000 + b'"}}]}'),
            id="content-length",
        ),
        pytest.param(
            _ok(
                gzip.compress(json.dumps(completion("a" * 20_000_000)).encode(), compresslevel=1),
                {"Content-Encoding": "gzip"},
            ),
            id="gzip-bomb",
        ),
    ],
)
def test_an_answer_over_the_size_limit_is_refused_without_reading_it_all(
    server: FakeChatServer, response: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.script = [response]
    read_to_the_end: list[bool] = []  # per response read: whether its body was read whole

    def read_body(response: httpx2.Response, limit: int) -> tuple[bytes, bool]:
        chunks = response.iter_bytes
        read_to_the_end.append(False)

        def iter_bytes() -> Iterator[bytes]:
            yield from chunks()
            read_to_the_end[-1] = True

        response.iter_bytes = iter_bytes  # type: ignore[method-assign]
        return _read_body(response, limit)

    monkeypatch.setattr(_openai, "_read_body", read_body)
    with pytest.raises(ServerError) as caught:
        openai_adapter(server).generate([model_input(QUESTION)], SETTINGS)
    assert read_to_the_end == [False]
    limit = body_limit(SETTINGS.max_new_tokens)
    assert f"body: exceeds the limit of {limit} bytes for max_tokens=16" in str(caught.value)
    assert QUESTION in str(caught.value)


def test_a_long_answer_within_the_size_limit_is_cut_to_the_bound_and_stored_cut(
    server: FakeChatServer, mini_data: Path, tmp_path: Path
) -> None:
    load_tasks()
    task = get_task("vqav2")
    bound = ANSWER_CHARS_PER_TOKEN * task.generation.max_new_tokens
    server.script = [_ok(completion("a" * 500_000))]
    config = _config(server, mini_data, tmp_path, limit=1)
    with pytest.warns(UserWarning, match=f"cut to {bound} characters"):
        run_evaluation(config)
    (record,) = _records(tmp_path)
    assert record["raw_output"] == "a" * bound
    assert (tmp_path / "samples_vqav2.jsonl").stat().st_size < 10 * bound


def _once_received(server: FakeChatServer, count: int, body: Any) -> Iterator[bytes]:
    """``body`` sent once the server has received ``count`` requests."""
    server.wait_received(count)
    yield json.dumps(body).encode()


def test_a_failed_request_keeps_the_answers_in_flight_and_sends_no_more(
    server: FakeChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = [model_input(f"Question {i}?") for i in range(6)]
    # All six in flight at once: the fourth to arrive fails once all have arrived, the others
    # answer once the adapter has taken the failure.
    status, headers, body = BAD_REQUEST
    server.script = [None, None, None, (status, headers, _once_received(server, 6, body))]
    server.answering.clear()
    complete_request = OpenAIAdapter._complete

    def failing_releases_the_answers(self: OpenAIAdapter, *args: Any) -> Generation:
        try:
            return complete_request(self, *args)
        except ServerError:
            server.answering.set()
            raise

    monkeypatch.setattr(OpenAIAdapter, "_complete", failing_releases_the_answers)
    with pytest.raises(PartialGenerationError) as caught:
        openai_adapter(server, concurrency=6).generate(inputs, SETTINGS)
    answered = caught.value.generations
    (failed,) = set(range(6)) - set(answered)
    assert all(answered[i].text.endswith(f"Question {i}?") for i in answered)
    error = caught.value.error
    assert type(error) is ServerError
    assert f"HTTP 400: image too large (request {failed + 1} of 6 of the batch" in str(error)
    assert f'"Question {failed}?"' in str(error)

    # One at a time: the fourth fails, and the fifth and sixth are never sent.
    server.received.clear()
    server.script = [None, None, None, BAD_REQUEST]
    with pytest.raises(PartialGenerationError) as caught:
        openai_adapter(server, concurrency=1).generate(inputs, SETTINGS)
    assert sorted(caught.value.generations) == [0, 1, 2]
    assert len(server.received) == 4


def _config(server: FakeChatServer, data_dir: Path, output_dir: Path, **options: Any) -> RunConfig:
    args = {"base_url": server.base_url, "model": "fake-vlm", "concurrency": "1"}
    return RunConfig(
        model="openai",
        model_args=args,
        tasks=("vqav2",),
        data_dir=data_dir,
        output_dir=output_dir,
        num_workers=0,
        **options,
    )


def _records(output_dir: Path) -> list[dict[str, Any]]:
    lines = (output_dir / "samples_vqav2.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_a_run_keeps_the_answers_of_a_failed_batch_and_a_rerun_sends_only_the_rest(
    server: FakeChatServer, mini_data: Path, tmp_path: Path
) -> None:
    load_tasks()
    config = _config(server, mini_data, tmp_path, limit=6, batch_size=6)
    server.script = [None, None, None, BAD_REQUEST]
    with pytest.raises(ServerError, match=r"HTTP 400: image too large \(request 4 of 6 "):
        run_evaluation(config)
    kept = _records(tmp_path)
    assert len(kept) == 3
    sent = [request["body"] for request in server.received]
    for record, body in zip(kept, sent, strict=False):
        assert record["raw_output"] == complete(body)["choices"][0]["message"]["content"]
    assert not (tmp_path / "results.json").exists()

    server.received.clear()  # the server is fixed
    results = run_evaluation(config, create_model("openai", config.model_args))
    assert len(server.received) == 3
    assert results["tasks"]["vqav2"]["timing"]["reused_samples"] == 3
    records = _records(tmp_path)
    assert len(records) == 6
    by_key = {record["request_key"]: record for record in records}
    assert all(by_key[record["request_key"]] == record for record in kept)


def test_the_cli_reports_a_malformed_answer_and_what_is_saved_without_a_traceback(
    server: FakeChatServer, mini_data: Path, tmp_path: Path
) -> None:
    server.script = [None, None, _ok(completion([{"type": "image_url"}]))]
    args = f"base_url={server.base_url},model=fake-vlm,concurrency=1"
    command = "run --model openai --tasks vqav2 --limit 4 --batch-size 4 --num-workers 0"
    result = CliRunner().invoke(
        main,
        [
            *command.split(),
            "--model-args",
            args,
            "--data-dir",
            str(mini_data),
            "--output",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "content[0]: expected a text part, got an object of type 'image_url'" in result.output
    assert "2 predictions are saved" in result.output
    assert len(_records(tmp_path)) == 2
