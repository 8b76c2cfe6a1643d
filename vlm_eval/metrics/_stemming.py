"""OK-VQA answer stemming: predictions brought to the form of the stemmed OK-VQA v1.1 answers.

OK-VQA v1.1 stores each human answer twice, ``raw_answer`` and a stemmed ``answer`` (plural nouns
made singular, ``-ing`` verb forms reduced to the verb: "riding horses" -> "ride horse"). Harnesses
in the OpenFlamingo line stem the prediction the same way before VQA accuracy, so that "horses"
can match "horse". Here the word forms come from lemminflect's English dictionary (no tagger, no
download); a word the dictionary does not know ("frisbees", "texas") is kept as it is.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib.metadata import version

import lemminflect

_WORD = re.compile(r"[A-Za-z]+")

OKVQA_STEMMING = f"lemminflect {version('lemminflect')}: plural nouns -> singular, -ing -> verb"
"""How predictions are stemmed, as recorded in results."""


@lru_cache(maxsize=1 << 16)
def _stem_word(word: str) -> str:
    lower = word.lower()
    if lower.endswith("ing"):
        verbs = lemminflect.getLemma(lower, "VERB", lemmatize_oov=False)
        return verbs[0] if verbs and verbs[0] != lower else word
    nouns = lemminflect.getLemma(lower, "NOUN", lemmatize_oov=False)
    return nouns[0] if nouns and nouns[0] != lower else word


def stem_okvqa_answer(text: str) -> str:
    """Stem every word of an answer as OK-VQA v1.1 stemmed its answers.

    Plural nouns become singular ("horses" -> "horse", "mice" -> "mouse") and words ending in
    ``-ing`` become their verb ("riding" -> "ride", "skiing" -> "ski"; "ceiling" stays). Other
    words, unknown words, spacing and punctuation are kept as they are; a changed word is
    lower-cased.

    Raises:
        ValueError: If ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise ValueError(f"an answer to stem must be a string, got {type(text).__name__}")
    return _WORD.sub(lambda match: _stem_word(match.group()), text)
