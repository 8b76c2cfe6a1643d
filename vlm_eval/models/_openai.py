"""Adapter for OpenAI-compatible chat-completions servers (vLLM, TGI, llama.cpp server, OpenAI)."""

from __future__ import annotations

import json
import math
import os
import re
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from functools import cached_property
from typing import Any

import httpx2

from vlm_eval._arguments import ArgumentsError
from vlm_eval.models._adapter import Generation, ModelAdapter, ModelInput, PartialGenerationError
from vlm_eval.models._chat import ImageFormat, to_openai_messages
from vlm_eval.models._family import PromptError, refuse_beams
from vlm_eval.models._family_registry import named_family
from vlm_eval.models._hf import ModelLoadError
from vlm_eval.models._registry import register_model
from vlm_eval.tasks import GenerationSettings, Prompt, is_raw

_MAX_STOP_STRINGS = 4  # OpenAI refuses more; the others are applied to the returned text
_FIRST_BACKOFF_SECONDS = 0.5  # doubled after each failed attempt ...
_MAX_BACKOFF_SECONDS = 8.0  # ... up to this
_MAX_RETRY_AFTER_SECONDS = 60.0  # cap on a server's Retry-After
_EXCERPT_CHARS = 500
_PROMPT_EXCERPT_CHARS = 60  # of the prompt that names a request in errors
_MAX_TOKEN_COUNT = 10**9  # no context is that long: a larger usage count is garbage
_BODY_LIMIT_FLOOR = 1 << 20
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")  # json.loads pairs the others into characters
_MISSING = object()  # a field a JSON object lacks

ANSWER_CHARS_PER_TOKEN = 64
"""Answers are cut to this many characters per token of ``max_new_tokens``: more than a token
holds (a few characters), so only a server that ignores ``max_tokens`` is cut."""


class ServerError(ModelLoadError):
    """A request the model server refused, did not answer or answered malformed; the message
    names the URL, the request and why (the field, for a malformed answer)."""


class _Failure(Exception):
    """Why a request failed; ``_complete`` makes it a ``ServerError`` naming the URL and request."""


class _Abandoned(Exception):
    """A request not sent (or retried) because another of its batch failed."""


@register_model
class OpenAIAdapter(ModelAdapter):
    """Sends each prompt to ``{base_url}/chat/completions`` with its images as base64 data URLs.

    Decoding is greedy (``temperature=0``). Connection errors, timeouts, HTTP 429 and 5xx are
    retried with exponential backoff (or the server's ``Retry-After``); other HTTP errors and
    malformed answers fail at once (``ServerError``). The requests of a batch are sent
    ``concurrency`` at a time, answers kept in order; when one fails, the answers already
    received are kept (``PartialGenerationError``). A response body over ``body_limit`` is
    refused, and answer text is cut to ``ANSWER_CHARS_PER_TOKEN`` characters a token.

    Args:
        base_url: The API root, ``/v1`` included, e.g. ``http://localhost:8000/v1``.
        model: The model name the server serves (``--served-model-name`` of vLLM).
        api_key: Sent as ``Authorization: Bearer``; defaults to ``$OPENAI_API_KEY``, and none is
            sent if neither is set. Never recorded.
        timeout: Seconds to wait for a connection and for each read.
        max_retries: Retries of a request after its first attempt.
        concurrency: Requests in flight at once.
        image_format: ``png`` (lossless) or ``jpeg`` (smaller requests).
        family: The served checkpoint's family (``vlm-eval list families``), which the server
            does not say: its prompts are then checked as the family checks them (images per
            prompt), and a family prompted without a chat template (PaliGemma, BLIP-2) is
            refused, since the server's chat template cannot prompt it as it was trained.
    """

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 3,
        concurrency: int = 8,
        image_format: ImageFormat = "png",
        family: str | None = None,
    ):
        if not base_url.startswith(("http://", "https://")):
            raise ArgumentsError(f"model 'openai': base_url must be an http(s) URL: {base_url!r}")
        if timeout <= 0 or max_retries < 0 or concurrency < 1:
            raise ArgumentsError(
                "model 'openai': needs timeout > 0, max_retries >= 0 and concurrency >= 1"
            )
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.model = model
        self.max_retries = max_retries
        self.concurrency = concurrency
        self.image_format = image_format
        self.family = None if family is None else named_family(family)
        if self.family is not None and not self.family.uses_chat_template:
            raise ArgumentsError(
                f"model 'openai': {family} checkpoints are prompted in their own format, without "
                "a chat template, which a chat-completions endpoint applies to every prompt: "
                "evaluate them with --model hf or --model vllm"
            )
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self._client = httpx2.Client(
            headers={"Authorization": f"Bearer {key}"} if key else {},
            timeout=timeout,
            limits=httpx2.Limits(max_connections=concurrency),
        )

    def check_prompt(self, prompt: Prompt) -> None:
        if is_raw(prompt):
            raise PromptError(
                "a chat-completions endpoint takes chat messages, not raw-template prompts: "
                "run this server's model with --protocol chat"
            )
        if self.family is not None:
            self.family.check_prompt(prompt)

    def generate(
        self, inputs: Sequence[ModelInput], settings: GenerationSettings
    ) -> list[Generation]:
        """Answers to ``inputs``, sent ``concurrency`` at a time.

        Once a request fails, no more are sent (or retried), and those in flight are waited for.

        Raises:
            ServerError: For the first request of the batch that failed, if none was answered.
            PartialGenerationError: With that error and the answers, if some were answered.
            PromptError: For beam search (``settings.num_beams > 1``), before any request.
        """
        refuse_beams(settings, self.name)
        stop = threading.Event()
        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        try:
            futures = [
                pool.submit(self._complete, item, settings, stop, _request_name(i, inputs))
                for i, item in enumerate(inputs)
            ]
            wait(futures)
        finally:
            stop.set()  # after an interrupt too: send no more of the batch
            pool.shutdown(cancel_futures=True)
        errors = [future.exception() for future in futures]
        failures = [error for error in errors if error and not isinstance(error, _Abandoned)]
        if not failures:
            return [future.result() for future in futures]
        answered = {
            index: future.result()
            for index, (future, error) in enumerate(zip(futures, errors, strict=True))
            if error is None
        }
        if not answered:
            raise failures[0]
        raise PartialGenerationError(answered, failures[0]) from failures[0]

    def _complete(
        self, item: ModelInput, settings: GenerationSettings, stop: threading.Event, request: str
    ) -> Generation:
        """The answer to ``item``; sets ``stop`` if it fails. ``request`` names it in errors."""
        try:
            payload: dict[str, Any] = {
                "model": self.model,
                "messages": to_openai_messages(item, self.image_format),
                "temperature": 0,
                "max_tokens": settings.max_new_tokens,
            }
            if settings.stop:
                payload["stop"] = list(settings.stop[:_MAX_STOP_STRINGS])
            body = self._post(payload, stop)
            text, prompt_tokens, generated_tokens = _read_answer(body, settings.max_new_tokens)
        except BaseException as error:
            stop.set()  # here, not in generate: before this thread takes the next request
            if isinstance(error, _Failure):
                raise ServerError(f"{self.url}: {error} ({request})") from error.__cause__
            raise
        end = min((text.index(s) for s in settings.stop if s in text), default=len(text))
        bound = ANSWER_CHARS_PER_TOKEN * settings.max_new_tokens
        if end > bound:
            warnings.warn(
                f"{self.url}: answers longer than max_tokens={settings.max_new_tokens} allows "
                f"are cut to {bound} characters ({ANSWER_CHARS_PER_TOKEN} per token)",
                stacklevel=1,
            )
        return Generation(
            text=text[: min(end, bound)],
            prompt_tokens=prompt_tokens,
            generated_tokens=generated_tokens,
        )

    def _post(self, payload: dict[str, Any], stop: threading.Event) -> Any:
        """The JSON of a successful response to ``payload``, after retries if needed.

        Raises:
            _Failure: If the server refused it, never answered, or answered what is not JSON.
            _Abandoned: If ``stop`` is set before an attempt.
        """
        max_tokens = payload["max_tokens"]
        limit = body_limit(max_tokens)
        attempts = self.max_retries + 1
        failure, delay = "", 0.0
        for attempt in range(attempts):
            if stop.wait(delay):
                raise _Abandoned
            try:
                with self._client.stream("POST", self.url, json=payload) as response:
                    content, whole = _read_body(response, limit)
            except httpx2.TransportError as error:
                failure, delay = f"{type(error).__name__}: {error}", _backoff(attempt)
                continue
            status = response.status_code
            if status == 429 or status >= 500:
                failure = f"HTTP {status}: {_server_message(response, content)}"
                delay = _backoff(attempt, response.headers.get("retry-after"))
                continue
            if not response.is_success:
                raise _Failure(f"HTTP {status}: {_server_message(response, content)}")
            if not whole:
                raise _Failure(
                    f"body: exceeds the limit of {limit} bytes for max_tokens={max_tokens}"
                )
            return _parse_json(content, response.headers.get("content-type"))
        raise _Failure(f"{failure} (gave up after {attempts} attempts)")

    @cached_property
    def served_model(self) -> str | None:
        """What the server's ``/models`` listing says it serves as ``model``: the checkpoint
        (vLLM's ``root``) or the id; ``None`` if the listing is unavailable or does not say."""
        try:
            with self._client.stream("GET", f"{self.base_url}/models") as response:
                content, whole = _read_body(response, _BODY_LIMIT_FLOOR)
            body = _parse_json(content, None) if response.is_success and whole else None
        except (httpx2.HTTPError, _Failure):
            return None
        entries = body.get("data") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            return None
        listed = [e for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)]
        matches = [entry for entry in listed if entry["id"] == self.model]
        if not matches and len(listed) == 1:  # llama.cpp serves its one model under any name
            matches = listed
        return str(matches[0].get("root") or matches[0]["id"]) if matches else None

    def describe(self) -> dict[str, Any]:
        return {
            "adapter": self.name,
            "base_url": self.base_url,
            "model": self.model,
            "server_model": self.served_model,
            "image_format": self.image_format,
            **({"family": self.family.name} if self.family is not None else {}),
        }


def body_limit(max_tokens: int) -> int:
    """The most bytes of a response body read for a request of ``max_tokens``: the longest answer
    kept (``ANSWER_CHARS_PER_TOKEN`` a token), each character escaped as ``\\uXXXX``, and 1 MiB
    for the rest. A longer body is refused unread."""
    return _BODY_LIMIT_FLOOR + 6 * ANSWER_CHARS_PER_TOKEN * max_tokens


def _request_name(index: int, inputs: Sequence[ModelInput]) -> str:
    """``request 2 of 8 of the batch: "<start of its last turn's text>"``, for errors."""
    text = " ".join(part for part in inputs[index].prompt[-1].parts if isinstance(part, str))
    excerpt = _excerpt(text, _PROMPT_EXCERPT_CHARS)
    return f'request {index + 1} of {len(inputs)} of the batch: "{excerpt}"'


def _backoff(attempt: int, retry_after: str | None = None) -> float:
    """Seconds to wait before the next attempt: the server's ``Retry-After`` if it gives one in
    seconds (at most ``_MAX_RETRY_AFTER_SECONDS``), else exponential backoff."""
    try:
        seconds = float(retry_after or "")
    except ValueError:  # none, garbage or an HTTP date
        seconds = math.nan
    if not seconds >= 0:  # NaN and negative seconds are garbage too
        return min(_FIRST_BACKOFF_SECONDS * 2**attempt, _MAX_BACKOFF_SECONDS)
    return min(seconds, _MAX_RETRY_AFTER_SECONDS)


def _read_body(response: httpx2.Response, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes of the (decompressed) body of ``response``, and whether that is
    all of it."""
    chunks, size = [], 0
    try:
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return b"".join(chunks)[:limit], False
    except httpx2.DecodingError as error:
        encoding = response.headers.get("content-encoding")
        raise _Failure(
            f"body: cannot be decoded as its Content-Encoding {encoding} says ({error})"
        ) from error
    return b"".join(chunks), True


def _parse_json(content: bytes, content_type: str | None) -> Any:
    """The JSON value of a response body (UTF-8, as JSON must be)."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _Failure(
            f"body: not UTF-8 text: byte 0x{content[error.start]:02x} at offset {error.start}"
        ) from None
    try:
        return json.loads(text)
    except RecursionError:
        raise _Failure("body: JSON nested too deeply") from None
    except ValueError as error:  # also numbers of more than 4300 digits
        raise _Failure(
            f"body: not JSON (Content-Type {content_type}: {error}): {_excerpt(text)}"
        ) from None


def _read_answer(body: Any, max_tokens: int) -> tuple[str, int, int]:
    """The text, prompt tokens and generated tokens of a chat completion.

    Raises:
        _Failure: Naming the first field that is not as OpenAI's API has it.
    """
    if not isinstance(body, dict):
        raise _Failure(f"body: expected a JSON object, got {_kind(body)}")
    choices = body.get("choices", _MISSING)
    if not (isinstance(choices, list) and choices):
        raise _Failure(f"choices: expected a non-empty list, got {_kind(choices)}")
    choice = _object(choices[0], "choices[0]")
    message = _object(choice.get("message", _MISSING), "choices[0].message")
    text = _content(message.get("content", _MISSING), choice.get("finish_reason"), max_tokens)
    usage = body.get("usage")  # optional: counts of 0 without it
    usage = {} if usage is None else _object(usage, "usage")
    return text, _count(usage, "prompt_tokens"), _count(usage, "completion_tokens")


def _content(content: Any, finish_reason: Any, max_tokens: int) -> str:
    """The text of ``choices[0].message.content``: a string, or a list of text parts (as
    some servers answer) joined."""
    path = "choices[0].message.content"
    if isinstance(content, list):
        for index, part in enumerate(content):
            if not (isinstance(part, dict) and part.get("type") == "text"):
                kind = _kind(part)
            elif not isinstance(part.get("text"), str):
                kind = f"an object of type 'text' whose text is {_kind(part.get('text', _MISSING))}"
            else:
                continue
            raise _Failure(f"{path}[{index}]: expected a text part, got {kind}")
        content = "".join(part["text"] for part in content)
    if not isinstance(content, str):
        why = ""
        if isinstance(finish_reason, str):
            why = f" (finish_reason: {_excerpt(repr(finish_reason), 40)}"
            if finish_reason == "length":
                why += f": max_tokens={max_tokens} ran out before any answer"
            why += ")"
        raise _Failure(
            f"{path}: expected a string or a list of text parts, got {_kind(content)}{why}"
        )
    if surrogate := _LONE_SURROGATE.search(content):
        raise _Failure(
            f"{path}: not Unicode text: a lone surrogate {_excerpt(surrogate[0])} at character "
            f"{surrogate.start()}"
        )
    return content


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Failure(f"{path}: expected an object, got {_kind(value)}")
    return value


def _count(usage: dict[str, Any], name: str) -> int:
    """``usage[name]``, a token count; 0 if the server does not say."""
    value = usage.get(name)
    if value is None:
        return 0
    if type(value) is not int or not 0 <= value <= _MAX_TOKEN_COUNT:
        raise _Failure(
            f"usage.{name}: expected a token count (an integer from 0 to {_MAX_TOKEN_COUNT}), "
            f"got {_kind(value)}"
        )
    return value


def _kind(value: Any) -> str:
    """What a JSON value is, for an error message: ``a list``, ``a number 1.5``, ``nothing``..."""
    if value is _MISSING:
        return "nothing"
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float | str):
        kind = "a string" if isinstance(value, str) else "a number"
        return f"{kind} {_excerpt(repr(value), 40)}"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, dict) and isinstance(value.get("type"), str):  # a content part
        return f"an object of type {_excerpt(repr(value['type']), 40)}"
    return "an object"


def _server_message(response: httpx2.Response, content: bytes) -> str:
    """The message of an error response: the ``error.message`` / ``error`` / ``message`` field
    of a JSON body (OpenAI, vLLM, TGI, llama.cpp), else the start of the body."""
    try:
        body = _parse_json(content, None)
    except _Failure:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else error or body.get("message")
        if isinstance(message, str) and message:
            return _excerpt(message)
    return _excerpt(content.decode("utf-8", "replace")) or response.reason_phrase


def _excerpt(text: str, limit: int = _EXCERPT_CHARS) -> str:
    """The start of ``text``, its non-printable characters escaped: what a server sends may hold
    terminal control sequences."""
    text = text if len(text) <= limit else text[:limit] + "..."
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
