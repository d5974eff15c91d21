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


# the API reference pages (mkdocstrings) and the public namespace each one documents
API_PAGES = {"mixedfx": "fitting", "mixedfx.inference": "inference",
             "mixedfx.effects": "effects", "mixedfx.tidy": "tidy",
             "mixedfx.diagnostics": "diagnostics", "mixedfx.plots": "plots",
             "mixedfx.families": "families", "mixedfx.datasets": "datasets"}
MODEL_CLASSES = ["mixedfx.results.lmm_model.LinearMixedModel",
                 "mixedfx.results.glmm_model.GeneralizedLinearMixedModel",
                 "mixedfx.results.gls_model.GlsModel"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built with `mkdocs build --strict` (mkdocs and mkdocstrings are in the test
    and docs extras; without them the build tests are skipped, saying which is missing)."""
    pytest.importorskip("mkdocs", reason="the docs build needs mkdocs (pip install '.[docs]')")
    pytest.importorskip("mkdocstrings_handlers.python",
                        reason="the API pages need mkdocstrings[python] (pip install '.[docs]')")
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(out / "site")],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    return proc, out / "site"


def test_api_reference_has_every_public_name(site):
    """Every public function and class (each namespace's __all__) has an entry on its API
    page, at its public path or where it is defined; the model classes list their methods."""
    import importlib
    import inspect

    proc, root = site
    assert proc.returncode == 0, proc.stderr
    missing = []
    for module, page in API_PAGES.items():
        mod = importlib.import_module(module)
        ids = set(re.findall(r'id="([^"]+)"', (root / "api" / page / "index.html").read_text()))
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.ismodule(obj) or name.startswith("__"):
                continue
            if not {f"{module}.{name}", f"{getattr(obj, '__module__', module)}.{name}"} & ids:
                missing.append(f"{module}.{name}")
    assert not missing, f"no API entry for {missing}"
    models = (root / "api" / "models" / "index.html").read_text()
    for cls in MODEL_CLASSES:
        for method in ("summary", "confint", "predict", "call"):
            assert f'id="{cls}.{method}"' in models, (cls, method)


def test_site_builds_without_warnings(site):
    proc, root = site
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    assert (root / "index.html").is_file()
    assert (root / "examples" / "hsb_introduction.py").is_file()
    assert (root / "gallery" / "caterpillar_sleepstudy.png").is_file()


def test_every_page_is_in_the_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in PAGES:
        assert f": {page}" in nav, page
    for page in sorted((DOCS / "api").glob("*.md")):
        assert f": api/{page.name}" in nav, page.name


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
