"""Protocols: named recipes that fix how a task is put to a model and its answer read back
(prompt templates, demonstrations, decoding, cutting), so that a score is comparable with the
paper or harness it names. ``--protocol NAME``; ``vlm-eval list protocols``."""

from vlm_eval.protocols._chat import ChatProtocol, LmmsEvalProtocol
from vlm_eval.protocols._m4 import Idefics2Base, Idefics2Instruct
from vlm_eval.protocols._openflamingo import OpenFlamingo
from vlm_eval.protocols._protocol import (
    Example,
    ImagePlacement,
    Protocol,
    TaskKind,
    get_protocol,
    majority_answer,
    protocol_names,
    protocol_spec,
    register_protocol,
)
from vlm_eval.protocols._template import TemplateProtocol

__all__ = [
    "ChatProtocol",
    "Example",
    "Idefics2Base",
    "Idefics2Instruct",
    "ImagePlacement",
    "LmmsEvalProtocol",
    "OpenFlamingo",
    "Protocol",
    "TaskKind",
    "TemplateProtocol",
    "get_protocol",
    "majority_answer",
    "protocol_names",
    "protocol_spec",
    "register_protocol",
]
