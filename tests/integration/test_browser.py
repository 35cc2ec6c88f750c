"""The built book in headless Chromium with no network: figures, math and a widget view
render; the scorecard has a section per paper, a number in every row, counts the rows it shows
and links to existing sections; no page
shows a path of the build machine; no table (or code line) overflows the text column."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kedit_utils.book import runner

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
    # no network at all: every host name fails to resolve
    "--host-resolver-rules=MAP * ~NOTFOUND",
]


def _chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed: `make test` installs the Debian package 'chromium'")
    return exe


def _render(page, tmp_path, *extra):
    cmd = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
           "--virtual-time-budget=15000", *extra, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_chapter_renders_figures_math_and_widgets_offline(tiny_book, tmp_path):
    book, _ = tiny_book
    page = book / "_build" / "html" / "chapters" / "01_knowledge_graphs.html"
    dom = _render(page, tmp_path, "--dump-dom").stdout
    assert dom.count("<img") >= 2, "figures missing"
    assert dom.count("<figcaption") >= 2 and "Fig. 1.2" in dom, "figures are not numbered by chapter and captioned"
    # a widget *view* rendered by the offline ipywidgets manager (not just its CSS class names)
    assert "jupyter-widgets widget-inline-hbox widget-dropdown" in dom and "<select" in dom, \
        "the ipywidgets view did not render"
    assert "mjx-container" in dom, "MathJax did not typeset the math"
    shot = tmp_path / "chapter1.png"
    _render(page, tmp_path, f"--screenshot={shot}", "--window-size=1200,2400")
    assert shot.stat().st_size > 10_000


def _pages(book):
    html = book / "_build" / "html"
    # intro.html, not index.html (which only redirects to it)
    return [html / "intro.html"] + [html / "chapters" / f"{name}.html" for name in runner.list_pages()]


def test_no_page_shows_a_path_of_the_build_machine(tiny_book):
    book, results = tiny_book
    paths = {str(ROOT), str(book), str(results.parent), str(Path.home())}
    for page in (book / "_build" / "html").rglob("*.html"):
        text = page.read_text()
        leaked = [p for p in paths if p in text]
        assert not leaked, f"{page.name} shows {leaked}"
        assert "PosixPath(" not in text, page.name


def test_chapters_link_their_notebook_and_results(tiny_book):
    book, _ = tiny_book
    html = book / "_build" / "html"
    for name in runner.list_notebooks():
        page = (html / "chapters" / f"{name}.html").read_text()
        for target in (f"{name}.ipynb", f"{name}.json"):
            links = re.findall(rf'href="([^"]*_downloads/[^"]*/{re.escape(target)})"', page)
            assert links, f"{name}: no download link to {target}"
            assert (html / "chapters" / links[0]).resolve().is_file(), f"{name}: dead link {links[0]}"


def test_chapters_hide_bookkeeping_and_fold_plotting_code(tiny_book):
    book, _ = tiny_book
    for name in runner.list_notebooks():
        page = (book / "_build" / "html" / "chapters" / f"{name}.html").read_text()
        for call in ("save_results(", "glue_number(", "resolve_parameters("):
            assert call not in page, f"{name} shows {call}"
        if "glue_figure(" in page:  # plotting code only inside a folded block
            assert "tag_hide-input" in page


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: `make test` installs it (the test extra)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_FLAGS[1:])
        yield b
        b.close()


def test_scorecard_has_a_section_per_paper_with_numbers_and_links_to_sections(tiny_book, browser):
    """A section for each of Papers A, B and C with at least one row holding a number; every row
    has a number; the count sentence's row total is the number of rows shown; the links resolve."""
    from kedit_utils.book.scorecard import PAPERS

    book, _ = tiny_book
    html = book / "_build" / "html" / "chapters"
    page = browser.new_page()
    page.goto((html / "scorecard.html").as_uri())
    rows = page.locator("table.kedit-scorecard tr:has(td)")
    # the tiny models have 2 layers, a depth the paper's tables don't have: Paper A's rows are the
    # clustering (Figs. 3/5) and tracing (Fig. 6) ones; test_scorecard.py covers the tables
    assert rows.count() >= 4
    for paper, heading in PAPERS.items():
        title = page.locator("h2", has_text=heading.split(":")[0] + ":")
        assert title.count() == 1, f"no section for paper {paper}"
        ours = title.locator("xpath=..").locator("table.kedit-scorecard td.kedit-ours").all_inner_texts()
        assert any(re.search(r"\d", cell) for cell in ours), f"paper {paper}: no numeric row"
    for cell in page.locator("table.kedit-scorecard td.kedit-ours").all_inner_texts():
        assert re.search(r"\d", cell), f"a scorecard row has no number: {cell!r}"
    text = page.inner_text("article")
    assert "profile" in text and "join the card" not in text
    count = re.search(r"Of its (\d+) rows", text)
    assert count and int(count.group(1)) == rows.count(), "the page's count is not the rows it shows"
    for href in set(page.locator("table.kedit-scorecard td a").evaluate_all("els => els.map(e => e.getAttribute('href'))")):
        target, anchor = href.split("#")
        assert f'id="{anchor}"' in (html / target).read_text(), f"scorecard link {href} has no target"
    page.close()


# For every table (and unfolded code line) in the article: how far it sticks out of the column
# at this width, and whether a scrolling container keeps it inside the viewport.
_OVERFLOW_JS = """
() => {
  const col = document.querySelector('article.bd-article') || document.querySelector('main');
  const right = col.getBoundingClientRect().right;
  const out = [];
  const scroller = (el) => {
    for (let a = el.parentElement; a && a !== col; a = a.parentElement) {
      const s = getComputedStyle(a).overflowX;
      if (s === 'auto' || s === 'scroll') return a;
    }
    return null;
  };
  for (const el of col.querySelectorAll('table, div.cell_input pre')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0) continue;  // folded
    const box = scroller(el);
    out.push({what: el.tagName + ': ' + el.innerText.slice(0, 60).replace(/\\s+/g, ' '),
              over: r.right - right, pre_over: el.tagName === 'PRE' ? el.scrollWidth - el.clientWidth : 0,
              box_over: box ? box.getBoundingClientRect().right - window.innerWidth : r.right - window.innerWidth});
  }
  return out;
}
"""


def test_no_table_overflows_its_column(tiny_book, browser):
    book, _ = tiny_book
    wide = browser.new_page(viewport={"width": 1200, "height": 900})
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    for page_file in _pages(book):
        wide.goto(page_file.as_uri())
        for el in wide.evaluate(_OVERFLOW_JS):
            assert el["over"] <= 1 and el["pre_over"] <= 1, f"{page_file.name} at 1200 px: {el}"
        phone.goto(page_file.as_uri())
        for el in phone.evaluate(_OVERFLOW_JS):  # on a phone a wide table scrolls inside the page
            assert el["box_over"] <= 1, f"{page_file.name} at 390 px: {el}"
    wide.close()
    phone.close()
