"""Train the demo checkpoint: the tiny Idefics2 architecture, trained from scratch on the CPU on
the train splits of the synthetic generator (``vlm_eval.demo.mini_data``, ``DEMO_SIZES``).

It learns from the very strings the ``idefics2-base`` protocol renders (VQA template 9, caption
template 7, zero-shot and a share of few-shot prompts), each followed by its answer as a
demonstration writes it and the end of the document (EOS), and from a share of prompts of the
``chat`` protocol in the Idefics2 chat template. Loss is on the answer tokens only. Training is
deterministic: the same settings (thread count included) give bitwise-identical weights.

``python -m vlm_eval.demo.train OUT_DIR [--data-dir DIR] [--steps N] [--seed S] ...`` writes
checkpoint folders ``OUT_DIR/step-0`` (the random start), ``OUT_DIR/step-<early>`` and
``OUT_DIR/final``; the first two are base checkpoints (no chat template), ``final`` has the chat
template, so that it can be evaluated under a raw and a chat protocol.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from transformers import (
    Idefics2Config,
    Idefics2ForConditionalGeneration,
    Idefics2ImageProcessorPil,
    Idefics2Processor,
    ProcessorMixin,
)

from vlm_eval.data import ImageSource, Sample
from vlm_eval.demo.mini_data import DEMO_SIZES, write_mini_data
from vlm_eval.demo.tiny import _checkpoint
from vlm_eval.demo.tiny._text import train_tokenizer
from vlm_eval.demo.tiny.idefics2 import CHAT_TEMPLATE
from vlm_eval.models import family_for, to_chat_messages
from vlm_eval.protocols import Example, TemplateProtocol, get_protocol
from vlm_eval.tasks import CaptionTask, Message, Prompt, VQATask, get_task, load_tasks

TASK_NAMES = ("vqav2", "okvqa", "textvqa", "coco_caption")
RAW_PROTOCOL = "idefics2-base"
CHAT_PROTOCOL = "chat"
_IGNORE = -100  # label of the tokens the loss skips


@dataclass(frozen=True, slots=True)
class ModelSize:
    """The architecture's sizes.

    Attributes:
        text_hidden, text_layers, text_heads: The Mistral decoder (intermediate size: twice
            the hidden size; key/value heads: half the heads); the perceiver resampler has the
            decoder's hidden size.
        vision_hidden, vision_layers: The SigLIP-style vision tower (2 heads, intermediate size
            twice the hidden size).
        image_size, patch_size: Images are resized to at most ``image_size`` px and cut into
            ``patch_size`` px patches.
        image_seq_len: Visual tokens per image (the resampler's latents).
        vocab_size: The BPE tokenizer's vocabulary (special tokens included).
        vision_init: Standard deviation of the random weights of the vision tower and the
            connector (the decoder's: 0.02); larger than usual so that the visual tokens of
            different images differ from the start instead of being averaged away.
    """

    text_hidden: int = 128
    text_layers: int = 2
    text_heads: int = 4
    vision_hidden: int = 64
    vision_layers: int = 2
    image_size: int = 96
    patch_size: int = 16
    image_seq_len: int = 8
    vocab_size: int = 600
    vision_init: float = 0.1


@dataclass(frozen=True, slots=True)
class TrainSettings:
    """How the checkpoint is trained.

    Attributes:
        steps: Optimizer steps.
        early_step: The step of the early checkpoint (``step-<early_step>``); 0: none.
        batch_size: Sequences per step.
        learning_rate: AdamW's peak learning rate (linear warm-up, then cosine decay to 10%).
        warmup_steps: Steps of linear warm-up.
        weight_decay: AdamW's weight decay.
        seed: Seeds the weights, the data order and the few-shot draws.
        fewshot_share: Share of raw prompts with demonstrations (one or two, each from another
            image of the same train split).
        chat_share: Share of prompts in the chat template (``chat`` protocol), the rest raw.
        train_images: Train images (or questions about them) read per task at most.
        threads: Torch threads (results are bitwise reproducible for a given number).
    """

    steps: int = 1000
    early_step: int = 150
    batch_size: int = 32
    learning_rate: float = 1e-3
    warmup_steps: int = 50
    weight_decay: float = 0.01
    seed: int = 0
    fewshot_share: float = 0.3
    chat_share: float = 0.2
    train_images: int = 2000
    threads: int = 2


@dataclass(frozen=True, slots=True)
class _Pair:
    """A training prompt and the same prompt followed by its answer."""

    prompt: Prompt
    answered: Prompt
    images: tuple[ImageSource, ...]


@dataclass(frozen=True, slots=True)
class Encoded:
    """One training sequence: token ids, labels (``-100`` where the loss skips) and its images
    (indices into ``TrainingData.pixels``)."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    images: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TrainingData:
    """Encoded training sequences and their images, resized by the image processor and kept as
    bytes until a batch rescales and normalizes them with the processor's settings.

    Attributes:
        sequences: The training sequences.
        pixels: ``(images, 3, height, width)`` uint8.
        masks: ``(images, height, width)`` bool, the processor's pixel attention masks.
        rescale, mean, std: The processor's rescale factor and normalization.
    """

    sequences: list[Encoded]
    pixels: torch.Tensor
    masks: torch.Tensor
    rescale: float
    mean: torch.Tensor
    std: torch.Tensor

    def pixel_values(self, images: Sequence[int]) -> torch.Tensor:
        """The model's pixel values of ``images``, as the processor computes them."""
        values = self.pixels[list(images)].to(torch.float32) * self.rescale
        return (values - self.mean) / self.std


def protocol_task(name: str, protocol: str) -> VQATask | CaptionTask:
    """Task ``name`` asked under ``protocol``, with the scoring options the protocol fixes for
    it (as the runner builds it)."""
    load_tasks()
    options = get_protocol(protocol).options_for(name) | {"protocol": protocol}
    task = get_task(name, options)
    assert isinstance(task, VQATask | CaptionTask)
    return task


def _example(sample: Sample, answer: str = "") -> Example:
    return Example(sample.image, sample.question or "", answer)


def _answer(task: VQATask | CaptionTask, sample: Sample, rng: random.Random) -> str:
    """The answer a training sequence teaches: a demonstration's (VQA: the most common answer),
    any of the references for captions (a different one from epoch to epoch of the data)."""
    if task.kind == "caption":
        return rng.choice(sample.references)
    return task.prompting.demonstration(task.kind, sample)


def _shots(
    samples: Sequence[Sample], sample: Sample, rng: random.Random, count: int
) -> list[Sample]:
    """``count`` other samples about other images, drawn with ``rng``."""
    image = sample.metadata.get("image_id", sample.id)
    shots: list[Sample] = []
    while len(shots) < count:
        shot = samples[rng.randrange(len(samples))]
        if shot.metadata.get("image_id", shot.id) != image and shot not in shots:
            shots.append(shot)
    return shots


def training_pairs(data_dir: Path, settings: TrainSettings) -> list[_Pair]:
    """The training prompts of every task's train split, in a seeded order: raw prompts of
    ``idefics2-base`` (a share with demonstrations) and a share of ``chat`` prompts."""
    rng = random.Random(f"{settings.seed}:pairs")
    pairs = []
    for name in TASK_NAMES:
        raw = protocol_task(name, RAW_PROTOCOL)
        chat = protocol_task(name, CHAT_PROTOCOL)
        samples = raw.load(raw.data_path(data_dir), raw.fewshot_split)
        images = list(dict.fromkeys(s.metadata.get("image_id", s.id) for s in samples))
        kept = set(images[: settings.train_images])
        samples = [s for s in samples if s.metadata.get("image_id", s.id) in kept]
        kind = raw.kind
        for sample in samples:
            answer = _answer(raw, sample, rng)
            if rng.random() < settings.chat_share:
                prompt = chat.prompt(sample, [])
                answered = (*prompt, Message("assistant", (answer,)))
                shots: list[Sample] = []
            else:
                shots = []
                if rng.random() < settings.fewshot_share:
                    shots = _shots(samples, sample, rng, rng.choice((1, 2)))
                prompt = raw.prompt(sample, shots)
                protocol = raw.prompting
                assert isinstance(protocol, TemplateProtocol)
                demonstrations = [
                    _example(shot, protocol.demonstration(kind, shot)) for shot in shots
                ]
                answered = protocol.answered(kind, _example(sample, answer), demonstrations, raw)
            images = tuple(part.image for m in prompt for part in m.images)
            pairs.append(_Pair(prompt, answered, images))
    rng.shuffle(pairs)
    return pairs


def _special_texts(processor: Idefics2Processor) -> re.Pattern[str]:
    """A pattern matching the processor's special tokens as written in a text."""
    tokenizer = processor.tokenizer
    specials = [*tokenizer.all_special_tokens, processor.image_token, processor.fake_image_token]
    return re.compile("|".join(re.escape(token) for token in sorted(set(specials), key=len)[::-1]))


def build_processor(size: ModelSize, pairs: Sequence[_Pair]) -> Idefics2Processor:
    """The real Idefics2 processor: a BPE tokenizer trained on the embedded corpus and the
    rendered texts of ``pairs`` (so that the demo's words are whole tokens),
    ``size.image_seq_len`` visual tokens per image, images of at most ``size.image_size`` px,
    no image splitting, the Idefics2 chat template."""
    image_processor = Idefics2ImageProcessorPil(
        size={"longest_edge": size.image_size, "shortest_edge": size.image_size},
        do_image_splitting=False,
    )

    def processor(corpus: Sequence[str]) -> Idefics2Processor:
        tokenizer = train_tokenizer(extra_corpus=corpus, vocab_size=size.vocab_size)
        return Idefics2Processor(
            image_processor,
            tokenizer,
            image_seq_len=size.image_seq_len,
            chat_template=CHAT_TEMPLATE,
        )

    draft = processor(())  # renders the texts with the special tokens' spelling
    special = _special_texts(draft)
    corpus = [
        line for pair in pairs for line in special.split(_texts(draft, pair)[1]) if line.strip()
    ]
    return processor(corpus)


def build_model(
    processor: Idefics2Processor, size: ModelSize, seed: int
) -> Idefics2ForConditionalGeneration:
    """A randomly initialised model of ``size`` over ``processor`` (weights seeded by
    ``seed``), stopping generation at ``<end_of_utterance>`` or EOS."""
    hidden, heads = size.text_hidden, size.text_heads
    config = Idefics2Config(
        vision_config=_checkpoint.vision_config(
            size.image_size,
            size.patch_size,
            hidden_size=size.vision_hidden,
            intermediate_size=2 * size.vision_hidden,
            num_hidden_layers=size.vision_layers,
            initializer_range=0.02,
        ),
        perceiver_config={
            "hidden_size": hidden,
            "resampler_n_latents": size.image_seq_len,
            "resampler_depth": 1,
            "resampler_n_heads": heads,
            "resampler_head_dim": hidden // heads,
            "num_key_value_heads": max(1, heads // 2),
            "initializer_range": 0.02,
        },
        text_config=_checkpoint.text_config(
            processor.tokenizer,
            "mistral",
            hidden_size=hidden,
            intermediate_size=2 * hidden,
            num_hidden_layers=size.text_layers,
            num_attention_heads=heads,
            num_key_value_heads=max(1, heads // 2),
            initializer_range=0.02,
        ),
        image_token_id=processor.image_token_id,
        tie_word_embeddings=False,
    )
    model = _checkpoint.seeded_model(Idefics2ForConditionalGeneration, config, seed)
    # transformers starts the resampler's latents all equal (ones): every visual token would
    # be the same until training breaks the symmetry. Distinct random latents learn faster.
    with torch.no_grad():
        model.model.connector.perceiver_resampler.latents.normal_(0.0, 1.0)
        for module in [*model.model.vision_model.modules(), *model.model.connector.modules()]:
            if isinstance(module, torch.nn.Linear | torch.nn.Conv2d):
                module.weight.normal_(0.0, size.vision_init)
    tokenizer = processor.tokenizer
    model.generation_config = _checkpoint.generation_config(
        tokenizer, "<end_of_utterance>", tokenizer.eos_token
    )
    return model  # type: ignore[return-value]


def _texts(processor: ProcessorMixin, pair: _Pair) -> tuple[str, str]:
    """The rendered prompt and the rendered training text (the prompt, the answer, the end)."""
    family = family_for("idefics2")
    prompt = family.render(processor, pair.prompt)
    if pair.prompt[0].role == "raw":
        full = family.render(processor, pair.answered) + processor.tokenizer.eos_token
    else:
        full = processor.apply_chat_template(
            to_chat_messages(pair.answered), add_generation_prompt=False, tokenize=False
        )
    if not full.startswith(prompt):
        raise ValueError(f"the answered text does not extend the prompt: {prompt!r} / {full!r}")
    return prompt, full


def encode(processor: Idefics2Processor, pairs: Sequence[_Pair]) -> TrainingData:
    """Token ids, labels (the answer's tokens) and images of each pair, through the processor
    (each distinct image processed once).

    Raises:
        ValueError: If an answered text does not extend its prompt, if the answer's tokens
            depend on the prompt before it, or if images differ in size after resizing.
    """
    tokenizer = processor.tokenizer
    image_processor = processor.image_processor
    sources = {image.key: image for pair in pairs for image in pair.images}
    index = {key: i for i, key in enumerate(sources)}
    keys = list(sources)
    pixels, masks = [], []
    for start in range(0, len(keys), 256):
        images = []
        for key in keys[start : start + 256]:
            with sources[key].open() as opened:
                images.append([opened.convert("RGB")])
        out = image_processor(images, do_rescale=False, do_normalize=False, return_tensors="pt")
        pixels.append(out["pixel_values"][:, 0].round().to(torch.uint8))
        masks.append(out["pixel_attention_mask"][:, 0].bool())
    if len({chunk.shape[1:] for chunk in pixels}) > 1:
        raise ValueError("training images differ in size after resizing: pad them first")
    texts = [_texts(processor, pair) for pair in pairs]
    # The processor expands each image placeholder into its tokens, as at evaluation.
    ids = processor(text=[full for _, full in texts], add_special_tokens=False)["input_ids"]
    completions = tokenizer(
        [full[len(prompt) :] for prompt, full in texts], add_special_tokens=False
    )["input_ids"]
    sequences = []
    for pair, (_, full), tokens, completion in zip(pairs, texts, ids, completions, strict=True):
        if tokens[len(tokens) - len(completion) :] != completion:
            raise ValueError(f"the answer's tokens depend on the prompt's: {full!r}")
        labels = [_IGNORE] * (len(tokens) - len(completion)) + completion
        sequences.append(
            Encoded(
                torch.tensor(tokens),
                torch.tensor(labels),
                tuple(index[image.key] for image in pair.images),
            )
        )
    return TrainingData(
        sequences,
        torch.cat(pixels),
        torch.cat(masks),
        float(image_processor.rescale_factor),
        torch.tensor(image_processor.image_mean).view(3, 1, 1),
        torch.tensor(image_processor.image_std).view(3, 1, 1),
    )


def batches(lengths: Sequence[int], batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """One epoch of batches (the last incomplete one dropped): a random permutation cut into
    groups of 16 batches, each group sorted by length so that a batch pads little, the
    batches in random order."""
    order = torch.randperm(len(lengths), generator=generator).tolist()
    group = 16 * batch_size
    cut = []
    for start in range(0, len(order), group):
        chunk = sorted(order[start : start + group], key=lambda i: lengths[i])
        cut += [chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size)]
    cut = [batch for batch in cut if len(batch) == batch_size]
    return [cut[i] for i in torch.randperm(len(cut), generator=generator).tolist()]


def collate(data: TrainingData, batch: Sequence[int], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Model inputs of the sequences ``batch``: padded on the right, images padded with zero
    images (which Idefics2 drops)."""
    items = [data.sequences[i] for i in batch]
    length = max(len(item.input_ids) for item in items)
    images = max(len(item.images) for item in items)
    input_ids = torch.full((len(items), length), pad_token_id)
    labels = torch.full((len(items), length), _IGNORE)
    attention = torch.zeros((len(items), length), dtype=torch.long)
    shape = data.pixels.shape[1:]
    pixel_values = torch.zeros((len(items), images, *shape))
    pixel_mask = torch.zeros((len(items), images, *shape[1:]), dtype=torch.bool)
    for i, item in enumerate(items):
        n, k = len(item.input_ids), len(item.images)
        input_ids[i, :n] = item.input_ids
        labels[i, :n] = item.labels
        attention[i, :n] = 1
        pixel_values[i, :k] = data.pixel_values(item.images)
        pixel_mask[i, :k] = data.masks[list(item.images)]
    return {
        "input_ids": input_ids,
        "labels": labels,
        "attention_mask": attention,
        "pixel_values": pixel_values,
        "pixel_attention_mask": pixel_mask,
    }


def _schedule(settings: TrainSettings) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < settings.warmup_steps:
            return (step + 1) / settings.warmup_steps
        progress = (step - settings.warmup_steps) / max(1, settings.steps - settings.warmup_steps)
        return 0.1 + 0.45 * (1 + math.cos(progress * math.pi))

    return factor


def _save(
    folder: Path,
    model: Idefics2ForConditionalGeneration,
    processor: Idefics2Processor,
    *,
    chat: bool,
    card: str,
    dtype: torch.dtype,
) -> Path:
    processor.chat_template = CHAT_TEMPLATE if chat else None
    saved = model if dtype == torch.float32 else copy.deepcopy(model).to(dtype)
    return _checkpoint.save(folder, saved, processor, card=card)


def _card(step: int, settings: TrainSettings, size: ModelSize, chat: bool, losses: Any) -> str:
    template = "with the Idefics2 chat template" if chat else "a base checkpoint (no chat template)"
    return (
        f"# tiny-idefics2 trained demo checkpoint, step {step}\n\n"
        "The tiny Idefics2 architecture trained from scratch on the CPU on the train splits of "
        "vlm-eval's synthetic generator (coloured shapes, signs, captions), in the raw text of "
        f"the `idefics2-base` protocol and a share of `chat` prompts; {template}. Synthetic "
        "data only: a demo of the evaluation pipeline, not a model of real images.\n\n"
        "- Rebuild: `python -m vlm_eval.demo.train OUT_DIR` with the settings below (the "
        "committed demo checkpoints: see `vlm_eval/demo/checkpoints/README.md`).\n"
        f"- Settings: `{json.dumps(asdict(settings))}`\n"
        f"- Sizes: `{json.dumps(asdict(size))}`\n"
        f"- Training loss (mean of the last 50 steps): {losses}\n"
    )


def train(
    output_dir: Path,
    data_dir: Path,
    settings: TrainSettings = TrainSettings(),
    size: ModelSize = ModelSize(),
    *,
    save_dtype: torch.dtype = torch.float32,
    save_initial: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train the checkpoint on ``data_dir``'s train splits; write ``step-0`` (unless not
    ``save_initial``), ``step-<early_step>`` and ``final`` under ``output_dir``, their weights
    in ``save_dtype`` (training is in float32 whatever it is).

    Returns:
        The checkpoint folders by name, the loss per step and the wall times.
    """
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(settings.threads)
    torch.use_deterministic_algorithms(True)
    try:
        return _train(output_dir, data_dir, settings, size, log, save_dtype, save_initial)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _train(
    output_dir: Path,
    data_dir: Path,
    settings: TrainSettings,
    size: ModelSize,
    log: Callable[[str], None],
    save_dtype: torch.dtype,
    save_initial: bool,
) -> dict[str, Any]:
    started = time.perf_counter()
    pairs = training_pairs(data_dir, settings)
    processor = build_processor(size, pairs)
    data = encode(processor, pairs)
    prepared = time.perf_counter() - started
    log(f"{len(data.sequences)} training sequences ready in {prepared:.1f} s")
    model = build_model(processor, size, settings.seed)
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    other = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings.weight_decay}, {"params": other}],
        lr=settings.learning_rate,
        weight_decay=0.0,
        betas=(0.9, 0.98),
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(settings))
    order = torch.Generator().manual_seed(settings.seed)
    pad = processor.tokenizer.pad_token_id
    checkpoints: dict[str, Path] = {}
    losses: list[float] = []

    def save(name: str, step: int, chat: bool) -> None:
        recent = round(sum(losses[-50:]) / len(losses[-50:]), 4) if losses else None
        card = _card(step, settings, size, chat, recent)
        checkpoints[name] = _save(
            output_dir / name, model, processor, chat=chat, card=card, dtype=save_dtype
        )

    if save_initial:
        save("step-0", 0, chat=False)
    lengths = [len(item.input_ids) for item in data.sequences]
    epoch: list[list[int]] = []
    for step in range(1, settings.steps + 1):
        if not epoch:
            epoch = batches(lengths, settings.batch_size, order)
        loss = model(**collate(data, epoch.pop(), pad)).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if step % 100 == 0 or step == settings.steps:
            log(f"step {step}: loss {sum(losses[-100:]) / len(losses[-100:]):.4f}")
        if step == settings.early_step and step < settings.steps:
            save(f"step-{step}", step, chat=False)
    model.eval()
    save("final", settings.steps, chat=True)
    elapsed = time.perf_counter() - started
    log(f"trained {settings.steps} steps in {elapsed:.1f} s ({prepared:.1f} s preparing)")
    return {"checkpoints": checkpoints, "losses": losses, "seconds": elapsed, "prepare": prepared}


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point (see the module's docstring)."""
    defaults, sizes = TrainSettings(), ModelSize()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", type=Path, help="folder to write the checkpoints into")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="data with train splits (DEMO_SIZES); default: generated into OUTPUT_DIR/data",
    )
    parser.add_argument(
        "--save-dtype",
        choices=["float32", "float16"],
        default="float32",
        help="weights of the saved checkpoints (the committed demo ones: float16)",
    )
    parser.add_argument(
        "--no-initial", action="store_true", help="do not save step-0 (the seeded initial weights)"
    )
    for field, value in [*asdict(defaults).items(), *asdict(sizes).items()]:
        parser.add_argument(f"--{field.replace('_', '-')}", type=type(value), default=value)
    args = vars(parser.parse_args(argv))
    data_dir = args.pop("data_dir")
    output_dir = args.pop("output_dir")
    save_dtype = getattr(torch, args.pop("save_dtype"))
    save_initial = not args.pop("no_initial")
    if data_dir is None:
        data_dir = output_dir / "data"
        if not (data_dir / "coco_caption" / "dataset_coco.json").exists():
            write_mini_data(data_dir, sizes=DEMO_SIZES)
    settings = replace(defaults, **{k: v for k, v in args.items() if k in asdict(defaults)})
    size = replace(sizes, **{k: v for k, v in args.items() if k in asdict(sizes)})
    train(output_dir, data_dir, settings, size, save_dtype=save_dtype, save_initial=save_initial)


if __name__ == "__main__":
    main()
