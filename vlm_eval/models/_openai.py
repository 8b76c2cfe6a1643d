"""Adapter for OpenAI-compatible chat-completions servers (vLLM, TGI, llama.cpp server, OpenAI)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property, partial
from typing import Any

import httpx2

from vlm_eval._arguments import ArgumentsError
from vlm_eval.models._adapter import Generation, ModelAdapter, ModelInput
from vlm_eval.models._chat import ImageFormat, to_openai_messages
from vlm_eval.models._hf import ModelLoadError
from vlm_eval.models._registry import register_model
from vlm_eval.tasks import GenerationSettings

_MAX_STOP_STRINGS = 4  # OpenAI refuses more; the others are applied to the returned text
_FIRST_BACKOFF_SECONDS = 0.5  # doubled after each failed attempt ...
_MAX_BACKOFF_SECONDS = 8.0  # ... up to this
_MAX_RETRY_AFTER_SECONDS = 60.0  # cap on a server's Retry-After
_EXCERPT_CHARS = 500


class ServerError(ModelLoadError):
    """A request the model server refused or did not answer; the message names the URL and why."""


@register_model
class OpenAIAdapter(ModelAdapter):
    """Sends each prompt to ``{base_url}/chat/completions`` with its images as base64 data URLs.

    Decoding is greedy (``temperature=0``). Connection errors, timeouts, HTTP 429 and 5xx are
    retried with exponential backoff (or the server's ``Retry-After``); other HTTP errors fail at
    once. The requests of a batch are sent ``concurrency`` at a time, answers kept in order.

    Args:
        base_url: The API root, ``/v1`` included, e.g. ``http://localhost:8000/v1``.
        model: The model name the server serves (``--served-model-name`` of vLLM).
        api_key: Sent as ``Authorization: Bearer``; defaults to ``$OPENAI_API_KEY``, and none is
            sent if neither is set. Never recorded.
        timeout: Seconds to wait for a connection and for each read.
        max_retries: Retries of a request after its first attempt.
        concurrency: Requests in flight at once.
        image_format: ``png`` (lossless) or ``jpeg`` (smaller requests).
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
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self._client = httpx2.Client(
            headers={"Authorization": f"Bearer {key}"} if key else {},
            timeout=timeout,
            limits=httpx2.Limits(max_connections=concurrency),
        )

    def generate(
        self, inputs: Sequence[ModelInput], settings: GenerationSettings
    ) -> list[Generation]:
        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        try:
            return list(pool.map(partial(self._complete, settings=settings), inputs))
        finally:
            pool.shutdown(cancel_futures=True)  # after a failure, send no more of the batch

    def _complete(self, item: ModelInput, settings: GenerationSettings) -> Generation:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(item, self.image_format),
            "temperature": 0,
            "max_tokens": settings.max_new_tokens,
        }
        if settings.stop:
            payload["stop"] = list(settings.stop[:_MAX_STOP_STRINGS])
        body = self._post(payload)
        choices = body.get("choices")
        if not (isinstance(choices, list) and choices and isinstance(choices[0], dict)):
            raise ServerError(f"{self.url}: the response has no choices: {_excerpt(str(body))}")
        text = (choices[0].get("message") or {}).get("content") or ""
        end = min((text.index(stop) for stop in settings.stop if stop in text), default=len(text))
        usage = body.get("usage") or {}
        return Generation(
            text=text[:end],
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            generated_tokens=int(usage.get("completion_tokens") or 0),
        )

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The JSON body of a successful response to ``payload``, after retries if needed."""
        attempts = self.max_retries + 1
        failure, delay = "", 0.0
        for attempt in range(attempts):
            time.sleep(delay)
            try:
                response = self._client.post(self.url, json=payload)
            except httpx2.TransportError as error:
                failure = f"{type(error).__name__}: {error}"
                delay = _backoff(attempt)
                continue
            status = response.status_code
            if status == 429 or status >= 500:
                failure = f"HTTP {status}: {_server_message(response)}"
                delay = _backoff(attempt, response.headers.get("retry-after"))
                continue
            if response.is_error:
                raise ServerError(f"{self.url}: HTTP {status}: {_server_message(response)}")
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise ServerError(f"{self.url}: not a JSON object: {_excerpt(response.text)}")
            return body
        raise ServerError(f"{self.url}: {failure} (gave up after {attempts} attempts)")

    @cached_property
    def served_model(self) -> str | None:
        """What the server's ``/models`` listing says it serves as ``model``: the checkpoint
        (vLLM's ``root``) or the id; ``None`` if the listing is unavailable or does not say."""
        try:
            response = self._client.get(f"{self.base_url}/models")
            body = response.json() if response.is_success else None
        except (httpx2.HTTPError, ValueError):
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
        }


def _backoff(attempt: int, retry_after: str | None = None) -> float:
    """Seconds to wait before the next attempt: the server's ``Retry-After`` if it gives one in
    seconds, else exponential backoff."""
    try:
        seconds = float(retry_after or "")
    except ValueError:
        return min(_FIRST_BACKOFF_SECONDS * 2**attempt, _MAX_BACKOFF_SECONDS)
    return min(seconds, _MAX_RETRY_AFTER_SECONDS) if seconds >= 0 else 0.0


def _server_message(response: httpx2.Response) -> str:
    """The message of an error response: the ``error.message`` / ``error`` / ``message`` field
    of a JSON body (OpenAI, vLLM, TGI, llama.cpp), else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else error or body.get("message")
        if isinstance(message, str) and message:
            return message
    return _excerpt(response.text) or response.reason_phrase


def _excerpt(text: str) -> str:
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "..."
