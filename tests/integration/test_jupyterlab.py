"""Working live as the README says (`make lab`), in a real browser: JupyterLab on a copy of
notebooks/ (127.0.0.1, a random token, throw-away Jupyter dirs, KEDIT_CACHE / KEDIT_RESULTS in
a temporary folder), driven by Playwright on the system Chromium, with no other network.

* a double-click on chapter 1 opens it as a notebook (the venv's default-viewer override), it
  runs with tiny parameters, the entity explorer's output changes with its selection, and
  saving leaves the .py byte-identical (notebooks/jupytext.toml);
* chapter 4's ROME panel starts with a relation chosen; an invalid choice made on purpose
  (the fact's current object as the new one) shows its error in the panel; a valid edit then
  applies (the panel stayed usable).
"""
import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
OVERRIDE = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.d" / "kedit.json5"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync", "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # nothing resolves but 127.0.0.1
]
TIMEOUT_MS = 90_000  # one chapter's run on a busy 2-core machine, with margin


def _tiny_parameters():
    """TINY from this folder's conftest (loaded by path: two conftest modules share that name)."""
    spec = importlib.util.spec_from_file_location("_kedit_integration_conftest", Path(__file__).with_name("conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TINY


def with_parameters(source: str, values: dict) -> str:
    """The py:percent ``source`` with ``values`` written into its parameters cell."""
    head, sep, rest = source.partition('# %% tags=["parameters"]\n')
    assert sep, "no parameters cell"
    cell, marker, tail = rest.partition("\n# %%")
    lines = cell.split("\n")
    for name, value in values.items():
        hits = [i for i, line in enumerate(lines) if re.match(rf"{name} = ", line)]
        assert len(hits) == 1, f"parameter {name!r} not in the parameters cell"
        lines[hits[0]] = f"{name} = {value!r}  # tiny (test)"
    return head + sep + "\n".join(lines) + marker + tail


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(page, the served folder, base URL with token): JupyterLab on tiny copies of chapters 1 and 4."""
    exe = _chromium()
    if exe is None:
        pytest.skip("no Chromium installed (the Debian package 'chromium'; `make test` installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: `make test` installs the test extra")
    if not OVERRIDE.is_file() or OVERRIDE.read_text() != (ROOT / "kedit_utils/book/lab/overrides.json5").read_text():
        pytest.fail(f"the JupyterLab settings override is not installed at {OVERRIDE}: `make test` / `make lab` copy it")

    tmp = tmp_path_factory.mktemp("lab")
    served = tmp / "notebooks"
    served.mkdir()
    shutil.copy(ROOT / "notebooks" / "jupytext.toml", served)
    tiny = _tiny_parameters()
    for name in ("01_knowledge_graphs", "04_causal_tracing"):
        values = dict(tiny[name])
        source = (ROOT / "notebooks" / f"{name}.py").read_text()
        if re.search(r"^threads = ", source, re.M):
            values["threads"] = 1
        (served / f"{name}.py").write_text(with_parameters(source, values))
    config = tmp / "jupyter_config"
    # no news or update checks (no network, and no toast over the page)
    notif = config / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notif.parent.mkdir(parents=True)
    notif.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = dict(
        os.environ, JUPYTER_CONFIG_DIR=str(config), JUPYTER_DATA_DIR=str(tmp / "jupyter_data"),
        JUPYTER_RUNTIME_DIR=str(tmp / "jupyter_runtime"), IPYTHONDIR=str(tmp / "ipython"),
        KEDIT_CACHE=str(tmp / "cache"), KEDIT_RESULTS=str(tmp / "results"), OMP_NUM_THREADS="1",
    )
    port, token = _free_port(), secrets.token_hex(16)
    log = open(tmp / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip", "127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={served}", "--ServerApp.port_retries=0",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        cwd=served, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("JupyterLab did not start:\n" + (tmp / "jupyterlab.log").read_text()[-3000:])
            time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{base}/lab?token={token}")
            page.locator(".jp-DirListing-item").first.wait_for()
            yield page, served, (base, token)
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def open_by_double_click(page, filename):
    """Double-click ``filename`` in the file browser; return the notebook panel it opened."""
    page.locator(".jp-DirListing-item", has_text=filename).dblclick()
    tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")
    tab.filter(has_text=filename).wait_for()
    main = page.locator("#jp-main-dock-panel")
    main.locator(".jp-NotebookPanel:visible, .jp-FileEditor:visible").first.wait_for()
    assert main.locator(".jp-FileEditor:visible").count() == 0, \
        "the double-click opened a text editor, not a notebook: is the default-viewer override installed?"
    panel = main.locator(".jp-NotebookPanel:visible")
    # the chapter's kernel started by itself: the one `make setup` installs, by its display name
    page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"^Python 3 \(kedit\) \| Idle$")).wait_for()
    return panel


def run_all_cells(page):
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def dropdown(scope, label):
    """The <select> of the ipywidgets drop-down described ``label``."""
    return scope.locator(".widget-dropdown", has=scope.page.locator("label", has_text=re.compile(f"^{label}$"))).locator("select")


def selected_text(select) -> str:
    """The selected option's label (ipywidgets writes its spaces as no-break spaces)."""
    return select.evaluate("s => s.selectedIndex < 0 ? '' : s.options[s.selectedIndex].text").replace("\xa0", " ")


def test_chapter1_opens_as_notebook_runs_explorer_updates_and_saves_unchanged(lab):
    page, served, _ = lab
    path = served / "01_knowledge_graphs.py"
    source = path.read_bytes()
    t0 = time.monotonic()
    panel = open_by_double_click(page, "01_knowledge_graphs.py")
    run_all_cells(page)
    pick = dropdown(panel, "entity")
    pick.wait_for()
    facts = panel.locator(".widget-html-content", has_text="aliases")
    facts.wait_for()
    before = facts.inner_text()
    assert selected_text(pick).startswith("entity ")
    pick.select_option(index=3)
    page.wait_for_function("([el, old]) => el.innerText !== old", arg=[facts.element_handle(), before])
    after = facts.inner_text()
    value = re.search(r"entity (\d+)", selected_text(pick)).group(1)
    assert after != before and f"entity {value}," in after
    assert panel.locator(".kedit-error").count() == 0

    mtime = path.stat().st_mtime_ns
    panel.click(position={"x": 5, "y": 5})  # focus the notebook, then save as a user does
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while path.stat().st_mtime_ns == mtime and time.monotonic() < deadline:
        time.sleep(0.2)
    assert path.stat().st_mtime_ns != mtime, "the notebook was not saved"
    assert path.read_bytes() == source, "saving in JupyterLab changed the .py"
    print(f"chapter 1 opened, ran and updated in {time.monotonic() - t0:.1f} s")


def test_chapter4_rome_panel_shows_an_error_in_the_panel_and_stays_usable(lab):
    page, _, _ = lab
    t0 = time.monotonic()
    panel = open_by_double_click(page, "04_causal_tracing.py")
    run_all_cells(page)
    apply_b = panel.locator("button", has_text="Apply edit")
    apply_b.wait_for()
    relation, new_object = dropdown(panel, "relation"), dropdown(panel, "new object")
    current = re.search(r"→ (e\d+)\)", selected_text(relation))
    assert current, f"the relation drop-down starts blank: {selected_text(relation)!r}"

    new_object.select_option(label=current.group(1))  # the fact's own object: invalid on purpose
    apply_b.click()
    error = panel.locator(".kedit-error")
    error.wait_for()
    text = error.inner_text()
    assert "The edit was not applied." in text and "ParameterError" in text and "is already the object" in text
    assert apply_b.is_enabled()

    new_object.select_option(label="<deleted>")
    # record whether the button is disabled while the edit runs (it must not be clickable twice)
    apply_b.evaluate("""b => { window.keditBusySeen = false; new MutationObserver(() => {
        if (b.disabled) window.keditBusySeen = true; }).observe(b, {attributes: true}); }""")
    apply_b.click()
    panel.locator(".widget-html-content", has_text="answers").wait_for()
    assert error.count() == 0
    assert page.evaluate("window.keditBusySeen"), "Apply edit stayed clickable while the edit ran"
    # enabled again once the edit is done (the answers may show a moment before the button's state)
    page.wait_for_function("b => !b.disabled", arg=apply_b.element_handle(), timeout=10_000)
    assert panel.locator("button", has_text="Restore").is_enabled()
    print(f"chapter 4 opened, ran and showed the panel's error in {time.monotonic() - t0:.1f} s")


def test_notebook7_is_served_too(lab):
    """Notebook 7 (the lab extra) answers at /tree, where the README's users may look."""
    _, _, (base, token) = lab
    with urllib.request.urlopen(f"{base}/tree?token={token}", timeout=30) as r:
        assert r.status == 200 and "notebook" in r.read().decode().lower()
