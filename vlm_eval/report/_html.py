"""The blocks of a report as one self-contained HTML page.

Every piece of text is escaped; the page loads nothing from outside (inline CSS, figures as
``data:`` URLs) and its Content-Security-Policy forbids scripts, so nothing in a model's output
can run even if an escape were missed.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

from vlm_eval.report._document import (
    Block,
    Code,
    FactList,
    Figure,
    Heading,
    Inline,
    Paragraph,
    Table,
    visible,
)

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_CSS = """
:root { color-scheme: light; }
body {
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 15px; line-height: 1.5; color: #1f2328; background: #fff;
  max-width: 72rem; margin: 2rem auto; padding: 0 1.5rem;
}
h1, h2, h3, h4, h5, h6 { line-height: 1.25; margin: 1.6em 0 0.6em; }
h1 { font-size: 1.9em; border-bottom: 1px solid #d0d7de; padding-bottom: 0.3em; }
h2 { font-size: 1.45em; border-bottom: 1px solid #d0d7de; padding-bottom: 0.25em; }
h3 { font-size: 1.2em; }
p, li, td, th { white-space: pre-line; overflow-wrap: anywhere; }
code {
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  font-size: 0.88em; background: #eff1f3; border-radius: 4px; padding: 0.1em 0.35em;
}
.table-wrap { overflow-x: auto; margin: 0.8em 0 1.2em; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { border: 1px solid #d0d7de; padding: 0.3em 0.7em; text-align: left; vertical-align: top; }
th { background: #f1f3f5; font-weight: 600; }
tbody tr:nth-child(even) { background: #f8f9fa; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
ul { padding-left: 1.4em; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e4e7eb; }
figcaption { color: #57606a; font-size: 0.9em; margin-top: 0.3em; }
@media print {
  body { margin: 0; max-width: none; font-size: 11pt; }
  .table-wrap { overflow: visible; }
  thead { display: table-header-group; }
  tr, figure { break-inside: avoid; }
  h1, h2, h3, h4, h5, h6 { break-after: avoid; }
}
"""


def _text(value: object) -> str:
    """``value`` as escaped HTML text, hidden characters shown as escapes (``visible``): HTML
    forbids most controls, and bidi controls would reorder the page's text."""
    return html.escape(visible(str(value)), quote=True)


def _inline(parts: Sequence[Inline]) -> str:
    return "".join(
        f"<code>{_text(part.text)}</code>" if isinstance(part, Code) else _text(part)
        for part in parts
    )


def _table(block: Table) -> str:
    def cells(tag: str, values: Sequence[object]) -> str:
        return "".join(
            f'<{tag} class="num">{_text(v)}</{tag}>'
            if i >= block.numeric_from
            else f"<{tag}>{_text(v)}</{tag}>"
            for i, v in enumerate(values)
        )

    body = "\n".join(f"<tr>{cells('td', row)}</tr>" for row in block.rows)
    return (
        '<div class="table-wrap"><table>\n'
        f"<thead><tr>{cells('th', block.header)}</tr></thead>\n"
        f"<tbody>\n{body}\n</tbody>\n</table></div>"
    )


def _facts(block: FactList) -> str:
    items = []
    for fact in block.facts:
        notes = "".join(f"<li>{_text(note)}</li>" for note in fact.notes)
        items.append(
            f"<li><strong>{_text(fact.label)}</strong>: {_inline(fact.parts)}"
            + (f"<ul>{notes}</ul>" if notes else "")
            + "</li>"
        )
    return "<ul>\n" + "\n".join(items) + "\n</ul>"


def _figure(block: Figure) -> str:
    data = base64.b64encode(block.png).decode("ascii")
    caption = _text(block.caption)
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{caption}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _block(block: Block) -> str:
    if isinstance(block, Heading):
        level = min(max(block.level, 1), 6)
        return f"<h{level}>{_text(block.text)}</h{level}>"
    if isinstance(block, Paragraph):
        return f"<p>{_inline(block.parts)}</p>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, FactList):
        return _facts(block)
    if isinstance(block, Figure):
        return _figure(block)
    raise TypeError(f"not a report block: {block!r}")


def to_html(blocks: Sequence[Block], *, title: str) -> str:
    """One self-contained HTML5 page of ``blocks``: UTF-8, inline CSS, figures embedded as PNG
    ``data:`` URLs, all text escaped, and a Content-Security-Policy that allows no script."""
    body = "\n".join(_block(block) for block in blocks)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_text(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
