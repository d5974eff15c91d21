#!/usr/bin/env python
"""Support for `bench_fit.py` beyond the model fits: a plain-install venv, the bundled data sets
as files for a peer's interpreter, and the "extras" rows of issue 21 (mixedfx alone): a
sleepstudy refit, a 1,000-replicate parametric bootstrap, `import mixedfx` against `import
numpy, scipy.linalg, pandas` in fresh interpreters, and the CLI's sleepstudy run end to end.

`python benchmarks/bench_support.py refit|bootstrap REPEATS` is the in-process worker of the
refit and bootstrap rows (`run_extras` runs it with the interpreter that runs mixedfx); it
prints one line `RESULT <json>`.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXTRAS = ("refit", "bootstrap", "import", "cli")
CLI_ARGS = ["fit", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy"]
IMPORTS = (("import mixedfx", "import mixedfx"),
           ("import numpy, scipy.linalg, pandas", "import numpy, scipy.linalg, pandas"),
           ("python -c pass", "pass"))
EXTRA_LABELS = {
    "refit": ("sleepstudy refit m.refit(y*), median", "target ≤ 0.2 ms"),
    "bootstrap": ("sleepstudy bootstrap, nsim=1000 (n_jobs=1)", "target well under 1 s"),
    "import mixedfx": ("import mixedfx (fresh process)", ""),
    "import numpy, scipy.linalg, pandas": ("import numpy, scipy.linalg, pandas (fresh process)",
                                           ""),
    "python -c pass": ("python -c pass (interpreter start)", ""),
    "cli": ("CLI: mixedfx fit sleepstudy, end to end", "target < 1 s"),
}


def fmt_seconds(x: float | None) -> str:
    """A time as "0.37 ms" (under 10 ms: two decimals, so a sub-millisecond fit's ratio can
    be read off the table), "12.3 ms" or "1.23 s" ("–" for none)."""
    if x is None or not math.isfinite(x):
        return "–"
    if x < 0.01:
        return f"{x * 1e3:.2f} ms"
    return f"{x * 1e3:.1f} ms" if x < 1 else f"{x:.2f} s"


def _fmt_short(x: float) -> str:
    return f"{x * 1e6:.0f} µs" if x < 1e-3 else fmt_seconds(x)


# --------------------------------------------------------------------------------------------
# interpreters and data
# --------------------------------------------------------------------------------------------
def import_mixedfx() -> Any:
    """mixedfx as this interpreter has it, else from the source tree."""
    try:
        import mixedfx
    except ImportError:
        sys.path.insert(0, str(REPO / "src"))
        import mixedfx
    return mixedfx


def datasets_module() -> Any:
    return import_mixedfx().datasets


def python_has(python: str, module: str) -> bool:
    proc = subprocess.run([python, "-c", f"import {module}"], capture_output=True, timeout=300,
                          check=False)
    return proc.returncode == 0


def plain_install(venv: Path) -> str:
    """DIR/bin/python of a venv with a plain `pip install <repo>` (made if missing)."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"# creating {venv} and running pip install {REPO}", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(REPO)], check=True)
    return str(python)


def export_dataset(name: str, directory: Path) -> None:
    """Write a bundled data set as `name.csv` plus `name.json` (each categorical column's
    levels and orderedness), so that a peer's interpreter, which need not be able to import
    mixedfx (a separate venv), reads the same frame with `read_exported`."""
    import pandas as pd

    data = datasets_module().load(name)
    meta = {c: {"levels": [str(v) for v in data[c].cat.categories],
                "ordered": bool(data[c].cat.ordered)}
            for c in data.columns if isinstance(data[c].dtype, pd.CategoricalDtype)}
    data.to_csv(directory / f"{name}.csv", index=False)
    (directory / f"{name}.json").write_text(json.dumps(meta), encoding="utf-8")


def read_exported(name: str, directory: Path) -> Any:
    """The frame `export_dataset` wrote (floats round-trip exactly through pandas' CSV)."""
    import pandas as pd

    meta = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
    data = pd.read_csv(directory / f"{name}.csv", dtype={c: str for c in meta})
    for c, m in meta.items():
        data[c] = pd.Categorical(data[c], categories=m["levels"], ordered=m["ordered"])
    return data


def worker_result(proc: subprocess.CompletedProcess[str], out: dict[str, Any]
                  ) -> dict[str, Any]:
    """The `RESULT <json>` line a worker printed, or `out` with why it printed none."""
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-2:]
    return {**out, "error": f"exit {proc.returncode}: {' | '.join(tail)}"}


# --------------------------------------------------------------------------------------------
# the extras
# --------------------------------------------------------------------------------------------
def extra_worker(kind: str, repeats: int) -> dict[str, Any]:
    """In this process: `repeats` timed sleepstudy refits to simulated responses (after five
    untimed ones), or `repeats` timed 1,000-replicate bootstraps (after a small untimed one)."""
    import warnings

    import numpy as np

    out: dict[str, Any] = {"tool": "mixedfx", "key": kind}
    try:
        mfx = import_mixedfx()
        out["mixedfx_path"] = str(Path(mfx.__file__).resolve().parent)
        sleep = mfx.datasets.load("sleepstudy")
        times = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = mfx.lmer("Reaction ~ Days + (Days | Subject)", data=sleep)
            if kind == "refit":
                ys = np.asarray(m.simulate(nsim=repeats + 5, seed=1), dtype=float)
                for j in range(5):
                    m.refit(ys[:, j])
                for j in range(5, repeats + 5):
                    t0 = time.perf_counter()
                    m.refit(ys[:, j])
                    times.append(time.perf_counter() - t0)
            elif kind == "bootstrap":
                m.bootstrap(nsim=5, seed=2)
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    m.bootstrap(nsim=1000, seed=1)
                    times.append(time.perf_counter() - t0)
            else:
                raise ValueError(f"unknown extra {kind!r}")
        out["times"] = times
    except Exception as exc:  # report the failure in the table
        out["error"] = f"{type(exc).__name__}: {exc}"[:300]
    return out


def process_env(python: str) -> dict[str, str]:
    """Environment for timing fresh interpreters: bytecode caches allowed (a plain install
    has them), the source tree on the path only if `python` cannot import mixedfx."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not python_has(python, "mixedfx"):
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO / "src"), env.get("PYTHONPATH", "")) if p)
    return env


def time_processes(cmd: list[str], repeats: int, env: dict[str, str]) -> dict[str, Any]:
    """Wall-clock seconds of `repeats` runs of `cmd` (after one untimed run, which also
    writes the bytecode caches), or the error of that first run."""
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600,
                           check=False)
    if first.returncode != 0:
        tail = (first.stderr or first.stdout).strip().splitlines()[-1:]
        return {"error": f"exit {first.returncode}: {' | '.join(tail)}"}
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=env, timeout=600, check=True)
        times.append(time.perf_counter() - t0)
    return {"times": times}


def run_extras(extras: list[str], python: str, refit_repeats: int, process_repeats: int,
               timeout: float) -> list[dict[str, Any]]:
    """The extras' rows, each a dict with "key" and "times" (or "error"), run with `python`."""
    rows: list[dict[str, Any]] = []
    env = process_env(python)
    for kind in extras:
        print(f"# extra {kind}", file=sys.stderr, flush=True)
        if kind in ("refit", "bootstrap"):
            n = refit_repeats if kind == "refit" else 1
            cmd = [python, str(Path(__file__).resolve()), kind, str(n)]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                                      timeout=timeout, check=False)
            except subprocess.TimeoutExpired:
                rows.append({"tool": "mixedfx", "key": kind,
                             "error": f"timeout after {timeout} s"})
                continue
            rows.append(worker_result(proc, {"tool": "mixedfx", "key": kind}))
        elif kind == "import":
            for key, code in IMPORTS:
                res = time_processes([python, "-c", code], process_repeats, env)
                rows.append({"tool": "mixedfx", "key": key, **res})
        elif kind == "cli":
            res = time_processes([python, "-m", "mixedfx", *CLI_ARGS], process_repeats, env)
            rows.append({"tool": "mixedfx", "key": "cli", **res})
        else:
            raise ValueError(f"unknown extra {kind!r}; choose from {EXTRAS}")
    return rows


def report_extras(rows: list[dict[str, Any]]) -> str:
    """The extras table: median and minimum of each row, and the import difference."""
    lines = ["| measurement | mixedfx (median) | min | note |", "| --- | ---: | ---: | --- |"]
    med = {}
    for r in rows:
        label, note = EXTRA_LABELS.get(r["key"], (r["key"], ""))
        if "error" in r or not r.get("times"):
            lines.append(f"| {label} | – | – | {r.get('error', 'no times')} |")
            continue
        med[r["key"]] = statistics.median(r["times"])
        lines.append(f"| {label} | {_fmt_short(med[r['key']])} | "
                     f"{_fmt_short(min(r['times']))} | {note} |")
    base = IMPORTS[1][0]
    if "import mixedfx" in med and base in med:
        diff = med["import mixedfx"] - med[base]
        lines.append(f"| import mixedfx − {base} | {fmt_seconds(diff)} | | target ≤ 0.25 s |")
    return "\n".join(lines)


if __name__ == "__main__":
    print("RESULT " + json.dumps(extra_worker(sys.argv[1], int(sys.argv[2]))), flush=True)
