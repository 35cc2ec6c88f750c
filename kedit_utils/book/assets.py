"""Offline assets for the book: MathJax and the ipywidgets HTML manager from the npm registry.

Jupyter Book loads both from a CDN by default; the book here serves them from
``book/_assets`` (Sphinx ``html_static_path``), so math and widgets render with no network.
The folder is deliberately not named ``_static``: Jupyter Book 1 injects every ``.js`` under a
``_static`` folder into every page.
"""
from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from kedit_utils.core.cache import PROJECT_ROOT

ASSETS_DIR = PROJECT_ROOT / "book" / "_assets"
# name -> (npm package spec, folder inside the package that is served)
NPM_ASSETS = {
    "mathjax": ("mathjax@3.2.2", "es5"),
    "widgets": ("@jupyter-widgets/html-manager@1.0.15", "dist"),
}
MARKER = ".complete"


def fetch_assets(dest: Path = ASSETS_DIR, force: bool = False) -> Path:
    """``npm pack`` each asset package and unpack its served folder into ``dest/<name>``."""
    dest = Path(dest)
    if (dest / MARKER).is_file() and not force:
        return dest
    if shutil.which("npm") is None:
        raise RuntimeError(
            "npm is needed once to fetch MathJax and the ipywidgets manager for the offline "
            "book (Debian: apt-get install npm)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "assets"
        for name, (spec, folder) in NPM_ASSETS.items():
            out = subprocess.run(
                ["npm", "pack", spec, "--pack-destination", tmp, "--silent"],
                check=True, capture_output=True, text=True,
            )
            tgz = Path(tmp) / out.stdout.strip().splitlines()[-1]
            prefix = f"package/{folder}/"
            with tarfile.open(tgz) as tar:
                members = [m for m in tar.getmembers() if m.name.startswith(prefix) and m.isfile()]
                for m in members:
                    m.name = m.name[len(prefix):]
                tar.extractall(staging / name, members=members, filter="data")
        (staging / MARKER).write_text("")
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), dest)
    return dest
