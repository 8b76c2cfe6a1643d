"""The text side shared by the tiny checkpoints: a small English corpus and a BPE tokenizer on it.

Nothing is downloaded: the tokenizer is trained here, in well under a second.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Sequence

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

VOCAB_SIZE = 2000
MAX_LENGTH = 4096
# Larger than the usual 0.02 so that greedy answers depend on the image and question
# instead of repeating one fixed string for every input.
INITIALIZER_RANGE = 0.2

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


def train_tokenizer(
    *,
    bos: str = "<s>",
    eos: str = "</s>",
    unk: str = "<unk>",
    pad: str | None = None,
    add_bos: bool = True,
    extra_special_tokens: Sequence[str] = (),
    extra_corpus: Sequence[str] = (),
    vocab_size: int = VOCAB_SIZE,
) -> PreTrainedTokenizerFast:
    """Train a Metaspace BPE tokenizer (as Llama and Mistral) on the corpus.

    Special tokens come first: ``unk`` = 0, ``bos`` = 1, ``eos`` = 2, then ``pad`` (if it is a
    new token) and ``extra_special_tokens``. Every printable ASCII character is in the
    vocabulary; other characters map to ``unk``. No byte fallback, so whatever a random model
    generates decodes to clean text.

    Args:
        bos, eos, unk: The family's special tokens.
        pad: The padding token; ``unk`` if not given.
        add_bos: Prepend ``bos`` to every encoded text, as Llama-family tokenizers do.
        extra_special_tokens: Further special tokens of the family (chat markers, ...).
        extra_corpus: Lines trained on besides the embedded corpus (a trained demo checkpoint's
            texts, so that its words are whole tokens).
        vocab_size: The vocabulary's size, special tokens included.
    """
    pad = pad or unk
    specials = list(dict.fromkeys([unk, bos, eos, pad, *extra_special_tokens]))
    tokenizer = Tokenizer(models.BPE(unk_token=unk, fuse_unk=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
    tokenizer.decoder = decoders.Metaspace(prepend_scheme="first")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=list(string.printable),
        show_progress=False,
    )
    tokenizer.train_from_iterator([*_corpus(), *extra_corpus], trainer=trainer)
    if add_bos:
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A",
            pair=f"{bos} $A {bos} $B",
            special_tokens=[(bos, tokenizer.token_to_id(bos))],
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=bos,
        eos_token=eos,
        unk_token=unk,
        pad_token=pad,
        additional_special_tokens=list(extra_special_tokens),
        model_max_length=MAX_LENGTH,
    )
