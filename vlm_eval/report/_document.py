"""A report as a list of blocks, and its markdown rendering; ``_html`` renders the same blocks.

Every piece of text in a block is plain text (model outputs included): renderers escape it, so
a ``|``, a newline or a ``<script>`` in an answer can neither break a table nor run in a page.

Characters that would act instead of showing (``visible``) are written as the escape Python
gives them, ``\\x1b``, ``\\u202e``, ``\\ud800``, ``\\U000e0041``, in markdown and HTML alike: the
controls (C0, DEL and C1: ESC sequences, BEL, NUL, ...), format characters (bidi embeddings,
overrides and isolates, U+200E/U+200F, U+061C, zero-width characters), U+2028, U+2029 and lone
surrogates (categories Cc, Cf, Zl, Zp and Cs). A report printed to a terminal or appended to
``$GITHUB_STEP_SUMMARY`` can then neither drive the terminal nor reorder what it shows. Tab,
newline and carriage return are layout: markdown makes them a space, HTML keeps them. In
markdown source the escape's backslash is itself escaped (``\\\\x1b``), so that it renders as
``\\x1b``; a literal backslash followed by ``x1b`` in a model's output looks the same.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Code:
    """Text shown as code (paths, hashes, option values)."""

    text: str


Inline = str | Code
"""A run of text: plain, or code."""


@dataclass(frozen=True, slots=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True, slots=True)
class Paragraph:
    parts: tuple[Inline, ...]


@dataclass(frozen=True, slots=True)
class Table:
    """A table; columns from ``numeric_from`` on are right-aligned numbers."""

    header: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]
    numeric_from: int = 1


@dataclass(frozen=True, slots=True)
class Fact:
    """A labelled item of a fact list, with sub-items (notes)."""

    label: str
    parts: tuple[Inline, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FactList:
    facts: tuple[Fact, ...]


@dataclass(frozen=True, slots=True)
class Figure:
    """A plot, as PNG bytes; only the HTML report shows figures."""

    caption: str
    png: bytes = field(repr=False)


Block = Heading | Paragraph | Table | FactList | Figure


def table(header: Sequence[str], rows: Sequence[Sequence[object]], numeric_from: int = 1) -> Table:
    """A ``Table`` from any sequences."""
    return Table(tuple(header), tuple(tuple(row) for row in rows), numeric_from)


_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_LAYOUT = frozenset("\t\n\r")


def _escape_char(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: str) -> str:
    """``text`` with every control, format, separator and surrogate character (categories Cc,
    Cf, Zl, Zp, Cs; tab, newline and carriage return excepted) written as its Python escape:
    ``"a\\x1bb"`` -> ``"a\\\\x1bb"``. Both renderers (and the plots) show text through it."""
    if text.isprintable():  # the common case: nothing to escape
        return text
    return "".join(
        _escape_char(char)
        if char not in _LAYOUT and unicodedata.category(char) in _HIDDEN_CATEGORIES
        else char
        for char in text
    )


# Characters that start markup anywhere; "_" only off word edges (GFM ignores it inside words)
# and "[" only as a link's "](": escaping them everywhere would clutter the markdown's text.
_MARKDOWN_SPECIAL = re.compile(r"[\\`*~|]|(?<![^\W_])_|_(?![^\W_])|(?<=\])\(")


def escape_cell(value: object) -> str:
    """``value`` as literal markdown text, safe in a table cell: no newline, no raw HTML, and
    no character that would start markup (``|``, ``*``, ``_``, backticks, links, ...)."""
    return _escape_text(str(value)).strip()


def _escape_text(text: str) -> str:
    """``text`` escaped for markdown, every run of whitespace made one space."""
    text = html.escape(visible(text), quote=False)
    text = _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m[0], text)
    return re.sub(r"\s+", " ", text)


def _markdown_inline(parts: Sequence[Inline]) -> str:
    out = []
    for part in parts:
        if isinstance(part, Code) and not re.search("[<>&]", part.text):
            # Markdown shows code spans verbatim, so text with HTML characters is escaped as
            # plain text instead. A span cannot hold its delimiter: use a longer backtick run.
            text = re.sub(r"\s+", " ", visible(part.text)).strip()
            longest = max(map(len, re.findall("`+", text)), default=0)
            ticks = "`" * (longest + 1)
            pad = " " if text.startswith("`") or text.endswith("`") else ""
            out.append(f"{ticks}{pad}{text}{pad}{ticks}")
        else:
            out.append(_escape_text(part if isinstance(part, str) else part.text))
    return "".join(out)


def _markdown_table(block: Table) -> str:
    align = ["---" if i < block.numeric_from else "---:" for i in range(len(block.header))]
    lines = [
        "| " + " | ".join(escape_cell(c) for c in block.header) + " |",
        "| " + " | ".join(align) + " |",
        *("| " + " | ".join(escape_cell(c) for c in row) + " |" for row in block.rows),
    ]
    return "\n".join(lines)


def to_markdown(blocks: Sequence[Block]) -> str:
    """GitHub-flavoured markdown of ``blocks`` (figures are left out)."""
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {escape_cell(block.text)}")
        elif isinstance(block, Paragraph):
            parts.append(_markdown_inline(block.parts))
        elif isinstance(block, Table):
            parts.append(_markdown_table(block))
        elif isinstance(block, FactList):
            lines = []
            for fact in block.facts:
                lines.append(f"- **{escape_cell(fact.label)}**: {_markdown_inline(fact.parts)}")
                lines += [f"  - {escape_cell(note)}" for note in fact.notes]
            parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
