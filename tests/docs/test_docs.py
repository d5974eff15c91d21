"""The documentation site: it builds with `mkdocs build --strict` (when mkdocs is installed)
and every Python snippet on its pages runs, page by page, against the current code."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from mixedfx import ConvergenceWarning

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(p.name for p in DOCS.glob("*.md"))
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_site_builds_without_warnings(tmp_path):
    pytest.importorskip("mkdocs")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    site = tmp_path / "site"
    assert (site / "index.html").is_file()
    assert (site / "examples" / "hsb_introduction.py").is_file()
    assert (site / "gallery" / "caterpillar_sleepstudy.png").is_file()


def test_every_page_is_in_the_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in PAGES:
        assert f": {page}" in nav, page


@pytest.mark.parametrize("page", [p for p in PAGES if FENCE.search((DOCS / p).read_text())])
def test_page_snippets_run(page):
    text = (DOCS / page).read_text()
    if "mfx.plots" in text or ".plot" in text:
        pytest.importorskip("matplotlib")
        import matplotlib

        matplotlib.use("Agg")
    namespace: dict = {"__name__": f"docs_{page}"}
    for i, block in enumerate(FENCE.findall(text)):
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)   # no failing fits in the docs
            try:
                exec(compile(block, f"{page}[{i}]", "exec"), namespace)
            except Exception as exc:  # name the page and block that failed
                raise AssertionError(f"{page}, python block {i} failed: {exc!r}\n{block}") \
                    from exc
    if "plt" in namespace or "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        plt.close("all")
