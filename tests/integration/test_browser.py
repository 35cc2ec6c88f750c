"""The built book in headless Chromium with no network: figures and a widget view render."""
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.slow

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
    # a widget *view* rendered by the offline ipywidgets manager (not just its CSS class names)
    assert "jupyter-widgets widget-inline-hbox widget-dropdown" in dom and "<select" in dom, \
        "the ipywidgets view did not render"
    assert "mjx-container" in dom, "MathJax did not typeset the math"
    shot = tmp_path / "chapter1.png"
    _render(page, tmp_path, f"--screenshot={shot}", "--window-size=1200,2400")
    assert shot.stat().st_size > 10_000
