"""HTML reports: escaping, the plots' PNG bytes, and the page as headless Chromium renders it."""

from __future__ import annotations

import html
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Browser, ConsoleMessage, sync_playwright

from vlm_eval.report._document import (
    Code,
    Fact,
    FactList,
    Figure,
    Heading,
    Paragraph,
    table,
)
from vlm_eval.report._html import to_html
from vlm_eval.report._plots import (
    CheckpointScore,
    CostPoint,
    breakdown_bars,
    score_against_cost,
    scores_across_checkpoints,
)

CHROMIUM = Path("/usr/bin/chromium")
EVIL = "<script>document.title='pwned'</script> a|b \"quotes\" & 'single'\nsecond line"
TITLE = 'Compare <runs> & "friends"'
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _bars() -> Figure:
    return breakdown_bars(
        "vqav2: accuracy by answer type",
        ["number", "other", "yes/no"],
        {"base": [60.5, 72.25, 95.0], "ckpt|step $1$ <b>": [None, 73.0, 95.125]},
        ylabel="accuracy",
    )


def _cost() -> Figure:
    return score_against_cost(
        [
            CostPoint("base", "vqav2", 80.8, 576.0, 0.21),
            CostPoint("new $x$", "vqav2", 81.0, 64.0, 0.012),
            CostPoint("base", "coco_caption", 116.0, 576.0, 1.9),
            CostPoint("new $x$", "coco_caption", 115.5, None, None),
        ],
        metric_label="main metric",
    )


def _checkpoints() -> Figure:
    return scores_across_checkpoints(
        {
            "vqav2 (accuracy)": [
                CheckpointScore("step-1000", 78.0, 77.0, 79.0),
                CheckpointScore("step-2000", 80.5, 79.6, 81.3),
                CheckpointScore("step-3000", 81.0),
            ],
            "coco_caption (CIDEr)": [
                CheckpointScore("step-1000", 110.0),
                CheckpointScore("step-3000", 115.5, 112.0, 118.0),
            ],
            "textvqa (anls)": [CheckpointScore("step-2000", 0.41, 0.39, 0.43)],
            "pope (f1)": [CheckpointScore("step-3000", 0.85)],
        }
    )


def _size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        return image.size


@pytest.fixture(scope="module")
def figures() -> list[Figure]:
    return [_bars(), _cost(), _checkpoints()]


def _blocks(figures: list[Figure]) -> list[Any]:
    return [
        Heading(TITLE, 1),
        Paragraph(("Runs compared: ", Code("runs/base <x>"), " and ", EVIL)),
        FactList(
            (
                Fact("model", (Code(EVIL),), notes=(EVIL, "plain note")),
                Fact("data", ("mini split",)),
            )
        ),
        Heading("Summary", 2),
        table(
            ["run", "model", "vqav2 (accuracy)"],
            [["base", "idefics2", "80.81"], ["new", EVIL, "81.00"]],
            numeric_from=2,
        ),
        Heading("Samples", 3),
        table(["question", "answer"], [[EVIL, "yes"]], numeric_from=2),
        Heading("Plots", 6),
        *figures,
    ]


@pytest.fixture(scope="module")
def page_html(figures: list[Figure]) -> str:
    return to_html(_blocks(figures), title=TITLE)


def test_no_markup_from_text_survives(page_html: str) -> None:
    assert "<script" not in page_html.lower()
    escaped = html.escape(EVIL, quote=True)
    assert escaped.count("&lt;script&gt;") == 1 and "&quot;quotes&quot;" in escaped
    # Paragraph, code in a fact, a note, two table cells: each holds the text, escaped.
    assert page_html.count(escaped) == 5
    assert f"<code>{escaped}</code>" in page_html
    assert f"<li>{escaped}</li>" in page_html
    assert f"<title>{html.escape(TITLE)}</title>" in page_html
    assert f"<h1>{html.escape(TITLE)}</h1>" in page_html


def test_page_structure(page_html: str, figures: list[Figure]) -> None:
    assert page_html.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page_html
    assert (
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">"
    ) in page_html
    assert "http://" not in page_html and "https://" not in page_html and "href=" not in page_html
    assert "<h3>Samples</h3>" in page_html and "<h6>Plots</h6>" in page_html
    assert '<thead><tr><th>run</th><th>model</th><th class="num">' in page_html
    assert '<td class="num">80.81</td>' in page_html
    assert "<li><strong>data</strong>: mini split</li>" in page_html
    assert "<code>runs/base &lt;x&gt;</code>" in page_html
    assert page_html.count('<figure><img src="data:image/png;base64,') == len(figures)
    for figure in figures:
        caption = html.escape(figure.caption, quote=True)
        assert f'alt="{caption}"><figcaption>{caption}</figcaption></figure>' in page_html


def test_control_characters_are_shown_and_heading_levels_kept_valid() -> None:
    page = to_html([Heading("deep\x00", 9), Paragraph(("bell\x07\u202e",))], title="t")
    assert "<h6>deep\\x00</h6>" in page and "<p>bell\\x07\\u202e</p>" in page


@pytest.mark.parametrize(
    ("make", "size"),
    [(_bars, (800, 450)), (_cost, (1100, 475)), (_checkpoints, (1125, 600))],
)
def test_plots_are_deterministic_pngs_of_a_known_size(make: Any, size: tuple[int, int]) -> None:
    first, second = make(), make()
    assert first.png.startswith(PNG_SIGNATURE)
    assert _size(first.png) == size
    assert first.png == second.png
    assert first.caption == second.caption and first.caption


def test_plot_captions() -> None:
    assert _bars().caption == "vqav2: accuracy by answer type"
    assert "visual tokens" in _cost().caption and "seconds per sample" in _cost().caption
    assert "95% confidence interval" in _checkpoints().caption


def test_breakdown_bars_grow_with_groups_within_bounds() -> None:
    groups = [f"type {i}" for i in range(40)]
    wide = breakdown_bars("t", groups, {"a": [1.0] * 40, "b": [2.0] * 40}, ylabel="y")
    assert _size(wide.png) == (2000, 450)


def test_empty_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        breakdown_bars("t", [], {"a": []}, ylabel="y")
    with pytest.raises(ValueError):
        breakdown_bars("t", ["g"], {}, ylabel="y")
    with pytest.raises(ValueError):
        breakdown_bars("t", ["g", "h"], {"a": [1.0]}, ylabel="y")
    with pytest.raises(ValueError):
        score_against_cost([])
    with pytest.raises(ValueError):
        scores_across_checkpoints({})
    with pytest.raises(ValueError):
        scores_across_checkpoints({"vqav2 (accuracy)": []})


# --- The page in headless Chromium -----------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium to render the HTML report")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@dataclass
class Loaded:
    """What a page did while it loaded, and what the DOM then says."""

    title: str
    console: list[str]
    requests: list[str]
    dom: dict[str, Any]
    screenshot: bytes


_DOM_SCRIPT = """() => ({
  tables: [...document.querySelectorAll('table')].map(t => ({
    header: [...t.querySelectorAll('thead th')].map(c => c.textContent),
    first: [...t.querySelectorAll('tbody tr:first-child td')].map(c => c.textContent),
    rows: t.querySelectorAll('tbody tr').length,
    numeric: [...t.querySelectorAll('tbody tr:first-child td')]
      .map(c => getComputedStyle(c).textAlign),
  })),
  images: [...document.querySelectorAll('img')].map(i => ({
    complete: i.complete, width: i.naturalWidth, height: i.naturalHeight, alt: i.alt,
  })),
  captions: [...document.querySelectorAll('figcaption')].map(c => c.textContent),
  scripts: document.querySelectorAll('script').length,
  paragraph: document.querySelector('p').textContent,
  code: document.querySelector('li code').textContent,
})"""


def _load(browser: Browser, path: Path) -> Loaded:
    page = browser.new_page()
    console: list[str] = []
    requests: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            console.append(f"{message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri(), wait_until="load")
    loaded = Loaded(
        title=page.evaluate("document.title"),
        console=console,
        requests=requests,
        dom=page.evaluate(_DOM_SCRIPT),
        screenshot=page.screenshot(full_page=True),
    )
    page.close()
    return loaded


@pytest.fixture(scope="module")
def rendered(browser: Browser, page_html: str, tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(page_html, encoding="utf-8")
    return _load(browser, path)


def test_chromium_runs_no_script_and_reports_no_error(rendered: Loaded) -> None:
    assert rendered.title == TITLE
    assert rendered.dom["scripts"] == 0
    assert rendered.console == []
    assert all(url.startswith(("file:", "data:")) for url in rendered.requests), rendered.requests
    assert rendered.screenshot.startswith(PNG_SIGNATURE) and len(rendered.screenshot) > 10_000


def test_chromium_sees_the_tables_and_their_text(rendered: Loaded) -> None:
    tables = rendered.dom["tables"]
    assert [t["header"] for t in tables] == [
        ["run", "model", "vqav2 (accuracy)"],
        ["question", "answer"],
    ]
    assert tables[0]["first"] == ["base", "idefics2", "80.81"]
    assert tables[0]["numeric"] == ["left", "left", "right"]
    assert tables[0]["rows"] == 2
    assert tables[1]["first"] == [EVIL, "yes"]  # the cell's text, newline included
    assert rendered.dom["paragraph"] == f"Runs compared: runs/base <x> and {EVIL}"
    assert rendered.dom["code"] == EVIL


def test_chromium_decodes_every_figure(rendered: Loaded, figures: list[Figure]) -> None:
    images = rendered.dom["images"]
    assert len(images) == len(figures)
    for image, figure in zip(images, figures, strict=True):
        assert image["complete"]
        assert (image["width"], image["height"]) == _size(figure.png)
        assert image["alt"] == figure.caption
    assert rendered.dom["captions"] == [figure.caption for figure in figures]


def test_chromium_csp_blocks_a_script_that_slipped_through(
    browser: Browser, page_html: str, tmp_path: Path
) -> None:
    """Defence in depth: were the escaping broken, the policy would still stop the script."""
    path = tmp_path / "broken.html"
    path.write_text(
        page_html.replace("<body>", "<body><script>document.title='pwned'</script>", 1),
        encoding="utf-8",
    )
    loaded = _load(browser, path)
    assert loaded.title == TITLE
    assert any("Content Security Policy" in line for line in loaded.console), loaded.console


def test_chromium_renders_the_report_of_three_checkpoints(browser: Browser, tmp_path: Path) -> None:
    """`vlm-eval report --format html` of tests/data/runs/step-*: tables with the intervals,
    and the three kinds of plot, each decoded by the browser."""
    from click.testing import CliRunner

    from vlm_eval.cli import main

    runs = Path(__file__).parent / "data" / "runs"
    page = tmp_path / "report.html"
    result = CliRunner().invoke(
        main,
        [
            "report",
            *(str(runs / f"step-{s}") for s in (1000, 2000, 3000)),
            *("--format", "html", "--output", str(page), "--title", "Checkpoints <1-3>"),
        ],
    )
    assert result.exit_code == 0, result.output
    loaded = _load(browser, page)
    assert loaded.title == "Checkpoints <1-3>"
    assert loaded.console == [] and loaded.dom["scripts"] == 0
    summary = loaded.dom["tables"][0]
    assert summary["header"] == ["run", "model", "vqav2 (accuracy)", "pope (accuracy)"]
    assert summary["rows"] == 3
    assert summary["first"][:2] == ["step-1000", "org/vlm/checkpoint-1000"]
    assert summary["first"][2].startswith("62.50 [") and summary["first"][3].startswith("75.00 [")
    assert loaded.dom["captions"] == [
        "vqav2: accuracy by answer type",
        "Main metric against visual tokens and seconds per sample",
        "Main metric of each task across the runs (bars: 95% confidence interval)",
    ]
    assert all(image["complete"] and image["width"] > 300 for image in loaded.dom["images"])
