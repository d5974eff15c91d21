"""matplotlib is optional: importing mixedfx does not load it, and without it a plot call
raises an ImportError naming the extra to install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).parents[2] / "src")


def _run(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300)


def test_import_does_not_load_matplotlib():
    out = _run("import sys, mixedfx, mixedfx.plots, mixedfx.diagnostics\n"
               "print('matplotlib' in sys.modules)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_plot_without_matplotlib_says_what_to_install():
    code = (
        "import sys\n"
        "sys.modules['matplotlib'] = None\n"
        "sys.modules['matplotlib.pyplot'] = None\n"
        "import mixedfx as mfx\n"
        "m = mfx.lmer('Yield ~ 1 + (1 | Batch)', mfx.datasets.load('Dyestuff'))\n"
        "try:\n"
        "    m.plot_ranef()\n"
        "except ImportError as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert "PlotDependencyError" in out.stdout
    # names the missing package and both routes: the package itself and the extra
    assert "needs the package matplotlib" in out.stdout
    assert "pip install matplotlib" in out.stdout
    assert 'pip install "mixedfx[plot]"' in out.stdout
