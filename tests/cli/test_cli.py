"""The `mixedfx` command line: fits bundled data and CSV files, prints summaries or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mixedfx as mfx
from mixedfx.cli.main import main


def test_fit_prints_lme4_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy"]) == 0
    out = capsys.readouterr().out
    m = mfx.lmer("Reaction ~ Days + (Days | Subject)", data=mfx.datasets.load("sleepstudy"))
    assert "Linear mixed model fit by REML" in out
    assert f"REML criterion at convergence: {m.deviance:.1f}" in out
    assert "   Data: sleepstudy" in out


def test_fit_json_ml(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "Yield ~ 1 + (1 | Batch)", "--data", "Dyestuff", "--ml", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    m = mfx.lmer("Yield ~ 1 + (1 | Batch)", data=mfx.datasets.load("Dyestuff"), REML=False)
    assert record["REML"] is False
    assert record["loglik"] == pytest.approx(m.loglik)
    assert record["fixef"]["(Intercept)"] == pytest.approx(m.fixef.iloc[0])


def test_glmer_family(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fit", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                 "--data", "cbpp", "--family", "binomial", "--json"])
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    assert record["family"] == "binomial" and record["link"] == "logit"


def test_csv_path_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.csv"
    mfx.datasets.load("Dyestuff").to_csv(path, index=False)
    assert main(["fit", "Yield ~ 1 + (1 | Batch)", "--data", str(path)]) == 0
    assert "   Data: d" in capsys.readouterr().out
    assert main(["fit", "Yield ~ x + (1 | Batch)", "--data", str(path)]) == 2
    assert "unknown variable 'x'" in capsys.readouterr().err
    assert main(["fit", "y ~ 1 + (1 | g)", "--data", "no_such_data"]) == 2
    assert "neither a file nor a bundled data set" in capsys.readouterr().err


def test_python_dash_m_runs_the_same_tool() -> None:
    """`python -m mixedfx` is the `mixedfx` script (for environments without its entry point)."""
    import os
    import subprocess
    import sys

    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(src), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "mixedfx", "fit",
                          "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "REML criterion at convergence: 1743.6" in out.stdout
    # the run stays within its 1 s budget (issue 21): no scipy.stats for the p-values (the
    # summary uses scipy.special), nothing that only other commands or options need
    def imported(stderr: str) -> set[str]:
        return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines()
                if line.startswith("import time:") and "|" in line}

    loaded = imported(out.stderr)
    # what numpy, scipy.linalg and pandas load themselves is not the CLI's doing (SciPy 1.11's
    # scipy.linalg imports scipy.sparse.linalg; later versions do not)
    base = subprocess.run([sys.executable, "-X", "importtime", "-c",
                           "import numpy, scipy.linalg, pandas"],
                          capture_output=True, text=True, env=env, timeout=120)
    loaded -= imported(base.stderr)
    # (a module loaded through mixedfx.lazy has no line of its own: importlib.import_module
    # bypasses the timer, its submodules have one)
    assert "mixedfx.cli.main" in loaded and "scipy.special._ufuncs" in loaded
    heavy = ("scipy.stats", "scipy.optimize", "scipy.sparse.linalg", "scipy.interpolate",
             "formulaic", "matplotlib", "dask", "multiprocessing")
    assert sorted(m for m in loaded if m.split(".")[0] in heavy or m.startswith(heavy)) == []
    bad = subprocess.run([sys.executable, "-m", "mixedfx", "fit", "y ~ (1 | g)", "--data",
                          "no_such_data"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert bad.returncode != 0 and "no_such_data" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_the_entry_point_freezes_the_collector_before_exit() -> None:
    """`run` (the script and `python -m mixedfx`) ends with gc.freeze(), so the interpreter's
    exit skips its full collections; `main` called as a function does not touch the
    collector."""
    import gc
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    pyproject = (root / "pyproject.toml").read_text()
    scripts = pyproject.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    assert scripts.strip() == 'mixedfx = "mixedfx.cli.main:run"'
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(root / "src"), os.environ.get("PYTHONPATH", "")])}
    code = ("import gc, sys\nfrom mixedfx.cli.main import run\n"
            "sys.argv = ['mixedfx', 'fit', 'Yield ~ 1 + (1 | Batch)', '--data', 'Dyestuff']\n"
            "before = gc.get_freeze_count()\nstatus = run()\n"
            "print(status, before, gc.get_freeze_count() > 1000)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-3:] == ["0", "0", "True"]
    frozen = gc.get_freeze_count()
    assert main(["fit", "Yield ~ 1 + (1 | Batch)", "--data", "Dyestuff"]) == 0
    assert gc.get_freeze_count() == frozen
