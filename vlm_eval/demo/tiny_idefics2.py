"""Build the demo's default checkpoint: a tiny, randomly initialised Idefics2 model.

The folder it writes loads exactly like a user's checkpoint, through
``AutoProcessor.from_pretrained`` and ``AutoModelForImageTextToText.from_pretrained``.
Nothing is downloaded: the tokenizer is trained here on an embedded corpus.
"""

import argparse
import itertools
import string
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    GenerationConfig,
    Idefics2Config,
    Idefics2ForConditionalGeneration,
    Idefics2ImageProcessorPil,
    Idefics2Processor,
    PreTrainedTokenizerFast,
)

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
IMAGE_SEQ_LEN = 64
IMAGE_LONGEST_EDGE = 128
IMAGE_SHORTEST_EDGE = 64
PATCH_SIZE = 16
MAX_LENGTH = 4096
VOCAB_SIZE = 2000
# Larger than the usual 0.02 so that greedy answers depend on the image and question
# instead of repeating one fixed string for every input.
INITIALIZER_RANGE = 0.2

# The chat template shipped with HuggingFaceM4/idefics2-8b.
CHAT_TEMPLATE = (
    "{% for message in messages %}{{message['role'].capitalize()}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

_CORPUS = """\
Answer the question using a single word or phrase.
Provide a one-sentence caption for the provided image.
Give a very brief answer.
User: What is in this image? Assistant: a cat sleeping on a sofa.
Question: What color is the circle? Answer: red
Question: What shape is next to the square? Answer: triangle
Question: How many circles are there? Answer: 3
Question: Is there a dog in the picture? Answer: yes
Question: Is the sky blue? Answer: no
Question: What is written on the sign? Answer: stop
Question: What number is on the shirt? Answer: 23
Question: What time does the clock show? Answer: ten o'clock
Question: Which side is the ball on? Answer: left
Question: What is the man holding? Answer: an umbrella
Question: Where is the cat sitting? Answer: on the table
Question: What brand is the bottle? Answer: coca cola
Question: What does the text say? Answer: welcome home
Question: What year is shown? Answer: 2015
Question: Are the lights on? Answer: yes
Question: What is the woman doing? Answer: reading a book
Question: What sport is being played? Answer: tennis
Question: What is the weather like? Answer: sunny
Question: How many people are in the photo? Answer: two
Question: What animal is this? Answer: a horse
Question: What room is this? Answer: kitchen
Question: What is the boy eating? Answer: pizza
Question: What fruit is on the plate? Answer: banana
Question: Is the door open or closed? Answer: closed
Question: What kind of vehicle is shown? Answer: truck
Question: What is the girl wearing on her head? Answer: a hat
Question: What is the name of the store? Answer: main street market
Question: What letter comes after the word? Answer: b
Question: What is the price on the tag? Answer: $4.99
Question: What is the speed limit? Answer: 55 mph
Question: Which way does the arrow point? Answer: right
Question: Is the water calm? Answer: yes
Question: What is the person on the left holding? Answer: a phone
Question: What season is it? Answer: winter
Question: Why is the road wet? Answer: rain
Question: What is the cake for? Answer: birthday
Question: Who is throwing the frisbee? Answer: the child
Question: What material is the fence made of? Answer: wood
Question: What is the title of the book? Answer: the old man and the sea
Question: What flavor is the ice cream? Answer: chocolate
Question: How many windows are visible? Answer: 12
Question: What game are they playing? Answer: baseball
Question: Is this a train or a bus? Answer: train
Question: What is hanging on the wall? Answer: a painting
a man riding a bicycle down a busy city street.
a plate of food with a sandwich, salad and some fries.
two people standing on a sandy beach next to the ocean.
a black and white photo of a train arriving at a station.
a close up of a street sign on a metal pole.
a group of children playing soccer in a green park.
a kitchen with a stove, a sink and a large refrigerator.
a yellow school bus parked on the side of the road.
an airplane flying over a mountain covered in snow.
a giraffe eating leaves from a tall tree at the zoo.
a bowl of soup and a cup of coffee on a wooden table.
a young woman talking on a cell phone while walking.
a herd of cows grazing in a field under a cloudy sky.
a laptop computer and a keyboard on an office desk.
a surfer riding a big wave in the blue ocean.
a bathroom with a white toilet, a mirror and a shower.
an elephant walking through tall grass near a river.
a red fire hydrant on the corner of a sidewalk.
a pizza with cheese, tomatoes and olives in a box.
a skateboarder doing a trick on a ramp at night.
a clock tower in the middle of a small town square.
a teddy bear sitting on a bed next to a pillow.
a boat floating on a lake surrounded by trees.
a vase of fresh flowers on a window sill.
a dog catching a frisbee in the backyard.
a motorcycle parked in front of a brick building.
several zebras drinking water at a muddy pond.
a tennis player swinging a racket at the ball.
"""

_COLOURS = ("red", "green", "blue", "yellow", "black", "white", "orange", "purple", "gray")
_SHAPES = ("circle", "square", "triangle", "star", "rectangle")
_COUNTS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _corpus() -> list[str]:
    """Return the tokenizer's training text: fixed sentences plus templated shape scenes."""
    lines = _CORPUS.splitlines()
    for (c1, s1), (c2, s2) in itertools.pairwise(itertools.product(_COLOURS, _SHAPES)):
        lines.append(f"a {c1} {s1} next to a {c2} {s2}.")
        lines.append(f"Question: Is the {s1} {c2}? Answer: no")
        lines.append(f"Question: What color is the {s2}? Answer: {c2}")
    for n, word in enumerate(_COUNTS):
        lines.append(f"Question: How many shapes are there? Answer: {n}")
        lines.append(f"There are {word} shapes in the image: {n} in total.")
    return lines


def _build_tokenizer() -> PreTrainedTokenizerFast:
    """Train a Metaspace BPE tokenizer with Mistral's special tokens (``<unk>``=0, ``<s>``=1).

    Every printable ASCII character is in the vocabulary; other characters map to ``<unk>``.
    No byte fallback, so whatever the random model generates decodes to clean text.
    """
    tokenizer = Tokenizer(models.BPE(unk_token=UNK, fuse_unk=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
    tokenizer.decoder = decoders.Metaspace(prepend_scheme="first")
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=[UNK, BOS, EOS],
        initial_alphabet=list(string.printable),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(), trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A",
        pair=f"{BOS} $A {BOS} $B",
        special_tokens=[(BOS, tokenizer.token_to_id(BOS))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        pad_token=UNK,
        model_max_length=MAX_LENGTH,
    )


def _build_processor() -> Idefics2Processor:
    """Build the real Idefics2 processor around the trained tokenizer, sized small for speed."""
    image_processor = Idefics2ImageProcessorPil(
        size={"longest_edge": IMAGE_LONGEST_EDGE, "shortest_edge": IMAGE_SHORTEST_EDGE},
        do_image_splitting=False,
    )
    return Idefics2Processor(
        image_processor,
        _build_tokenizer(),
        image_seq_len=IMAGE_SEQ_LEN,
        chat_template=CHAT_TEMPLATE,
    )


def _build_config(processor: Idefics2Processor) -> Idefics2Config:
    """Return a tiny Idefics2 config whose vocabulary covers the processor's added tokens."""
    tokenizer = processor.tokenizer
    return Idefics2Config(
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": IMAGE_LONGEST_EDGE,
            "patch_size": PATCH_SIZE,
            "initializer_range": INITIALIZER_RANGE,
        },
        perceiver_config={
            "hidden_size": 64,
            "resampler_n_latents": IMAGE_SEQ_LEN,
            "resampler_depth": 2,
            "resampler_n_heads": 4,
            "resampler_head_dim": 16,
            "num_key_value_heads": 2,
            "initializer_range": INITIALIZER_RANGE,
        },
        text_config={
            "model_type": "mistral",
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": MAX_LENGTH,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "initializer_range": INITIALIZER_RANGE,
        },
        image_token_id=processor.image_token_id,
    )


def build_tiny_idefics2(output_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random Idefics2 checkpoint (weights, config, processor) to ``output_dir``.

    Args:
        output_dir: Folder to write; created if missing, existing files are overwritten.
        seed: Seed for the random weights; the same seed gives identical weights.

    Returns:
        ``output_dir``, ready for ``AutoProcessor`` / ``AutoModelForImageTextToText``.
    """
    output_dir = Path(output_dir)
    processor = _build_processor()
    tokenizer = processor.tokenizer
    torch.manual_seed(seed)
    model = Idefics2ForConditionalGeneration(_build_config(processor)).to(torch.float32)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[
            tokenizer.convert_tokens_to_ids("<end_of_utterance>"),
            tokenizer.eos_token_id,
        ],
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(output_dir)  # transformers 5 always writes safetensors
    processor.save_pretrained(output_dir)
    (output_dir / "README.md").write_text(_model_card(seed), encoding="utf-8")
    return output_dir


def _model_card(seed: int) -> str:
    """Return the checkpoint's model card."""
    return (
        "# tiny-idefics2 (vlm-eval demo)\n\n"
        "A tiny Idefics2-architecture model with **random weights** "
        f"(seed {seed}), built offline by `vlm_eval.demo.tiny_idefics2` for the vlm-eval demo "
        "and tests. Its answers are meaningless; it exists to exercise the full loading and "
        "generation path (`AutoProcessor` + `AutoModelForImageTextToText`) in seconds on a CPU.\n\n"
        "- Tokenizer: BPE with a Metaspace pre-tokenizer (as Mistral), trained on a small "
        "embedded English corpus; special tokens as Idefics2.\n"
        f"- Processor: `Idefics2Processor`, {IMAGE_SEQ_LEN} `<image>` tokens per image, "
        f"images resized to at most {IMAGE_LONGEST_EDGE} px, no image splitting.\n"
        "- Rebuild: `python -m vlm_eval.demo.tiny_idefics2 OUT_DIR`.\n"
    )


def main() -> None:
    """Command-line entry: build the checkpoint into the given folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(build_tiny_idefics2(args.output_dir, seed=args.seed))


if __name__ == "__main__":
    main()
