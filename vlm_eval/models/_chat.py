"""Prompts as OpenAI-style chat messages with images inlined as base64 data URLs."""

from __future__ import annotations

import base64
import io
from typing import Any, Literal

from PIL.Image import Image

from vlm_eval.models._adapter import ModelInput
from vlm_eval.tasks import ImagePart

ImageFormat = Literal["png", "jpeg"]
"""How images are encoded in data URLs: ``png`` (lossless) or ``jpeg`` (smaller)."""


def image_data_url(image: Image, image_format: ImageFormat = "png") -> str:
    """``data:image/<format>;base64,...`` holding ``image`` encoded as ``image_format``."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format=image_format.upper())
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/{image_format};base64,{encoded}"


def to_openai_messages(item: ModelInput, image_format: ImageFormat = "png") -> list[dict[str, Any]]:
    """``item``'s prompt as chat-completions messages: each turn's content is a list of
    ``{"type": "text"}`` and ``{"type": "image_url"}`` parts, ``item.images`` in prompt order.

    Raises:
        ValueError: When the prompt's image parts and ``item.images`` differ in number.
    """
    wanted = sum(len(message.images) for message in item.prompt)
    if wanted != len(item.images):
        raise ValueError(f"the prompt has {wanted} image parts but {len(item.images)} images")
    images = iter(item.images)
    return [
        {
            "role": message.role,
            "content": [
                {
                    "type": "image_url",
                    "image_url": {"url": image_data_url(next(images), image_format)},
                }
                if isinstance(part, ImagePart)
                else {"type": "text", "text": part}
                for part in message.parts
            ],
        }
        for message in item.prompt
    ]
