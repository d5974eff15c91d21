#!/usr/bin/env python
"""Benchmark mixedfx against lme4 and the Python peers ``glmm`` and ``mixedlm`` (issue 10).

Models (the letters of issue 10)::

    A  sleepstudy  Reaction ~ Days + (Days | Subject)                          REML
    B  Penicillin  diameter ~ 1 + (1 | plate) + (1 | sample)                   REML
    C  InstEval    y ~ service + (1 | s) + (1 | d) + (1 | dept)                ML
    D  cbpp        cbind(incidence, size - incidence) ~ period + (1 | herd)    binomial
    E  VerbAgg     r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)  binomial
    F  1M rows     y ~ x + (1 + x | g1) + (1 | g2), 10 000 x 500 levels        ML   (--large)
    G  1M rows     y ~ x + (1 | g1) + (1 | g2), 50 000 x 5 000 levels          ML   (--large)
    H  500k rows   y ~ x + (1 + x | g), 125 000 groups of 4 rows               ML   (--large)

F, G and H are simulated (seeded) and only run with ``--large``. H is the shape of statsmodels'
issue 9097: x ~ N(0, 1), intercept SD 1, slope SD 0.4 (independent), residual SD 1.

After the model table a second table ("extras", ``--extras``) gives, for mixedfx alone:
a sleepstudy refit ``m.refit(y*)`` (median µs over ``--refit-repeats`` refits to simulated
responses), a 1,000-replicate parametric bootstrap ``m.bootstrap(nsim=1000, seed=1)`` of
sleepstudy, ``import mixedfx`` against ``import numpy, scipy.linalg, pandas`` (median wall
time of ``--process-repeats`` fresh interpreters each, after one untimed run that writes the
bytecode caches), and the CLI's sleepstudy run (``python -m mixedfx fit "Reaction ~ Days +
(Days | Subject)" --data sleepstudy``) end to end, the same way.

Usage::

    python benchmarks/bench_fit.py [--models A,B,D] [--tools mixedfx,glmm,mixedlm,lme4]
                                   [--conditions idle,busy] [--repeats N] [--large]
                                   [--peer-python PATH] [--mixedfx-python PATH]
                                   [--plain-install DIR] [--extras refit,bootstrap,import,cli]
                                   [--json FILE]

Measuring a plain install
-------------------------
Issue 21's targets are for what ``pip install .`` gives (no extras). Either let the harness
build that venv::

    python benchmarks/bench_fit.py --plain-install /tmp/mixedfx-plain \
        --peer-python /work/peers/bin/python

(it runs ``python -m venv DIR`` and ``DIR/bin/pip install <repo>`` when ``DIR/bin/python``
does not exist yet, then runs every mixedfx worker, the import and the CLI rows with
``DIR/bin/python``), or build it yourself and pass ``--mixedfx-python DIR/bin/python``. The
peers belong in a separate venv (``python3 -m venv /work/peers && /work/peers/bin/pip install
glmm statsmodels pandas numpy``) given as ``--peer-python``. The footer names the mixedfx the
workers imported (its path), so a run that fell back to the source tree is visible.

Method
------
* Every (tool, model, condition) runs in a fresh process: a Python worker for mixedfx and the
  Python peers (the peers with ``--peer-python`` if given, else this interpreter), one Rscript
  process for lme4. The data are loaded and a small warm-up fit of the same kind (sleepstudy
  for linear, cbpp for binomial models) is run before timing, so imports and lazy loading are
  not timed.
* Time: wall-clock seconds of the fitting call alone (``time.perf_counter`` / R's
  ``system.time``), the minimum of ``--repeats`` fits (``--large-repeats`` for models with
  more than 20 000 rows); the median is kept in the JSON output.
* Conditions: ``idle``; ``busy``: this script starts one CPU-bound process
  (``while True: pass``) before the fits and stops it after.
* Peak MiB: resident-memory high-water mark during the last fit, minus the resident size before
  it (``/proc/self/clear_refs`` resets the mark; the same method in Python and in R).
* evals: objective evaluations of the optimizer as each tool reports them (mixedfx:
  ``optimizer_info["evaluations"]``, both stages for GLMMs; glmm: ``n_eval`` (+ ``n_grad``
  gradient evaluations, shown as ``e+g``); mixedlm: ``function_evals`` / ``n_iter``; lme4:
  ``optinfo$feval``, the last stage for GLMMs).
* ratio: mixedfx time / the fastest peer's time in the same condition (< 1: mixedfx faster).
* Δ: largest difference of −2 log-likelihood (REML criterion for REML fits) between any tool
  and mixedfx, relative to |mixedfx's|.

Peers get the data the way their APIs take them: glmm ``cbind(y, failures)`` with a computed
failures column, mixedlm proportions with ``weights=`` the trials; numeric 0/1 responses.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_support import (
    EXTRAS,
    datasets_module,
    export_dataset,
    fmt_seconds,
    import_mixedfx,
    plain_install,
    python_has,
    read_exported,
    report_extras,
    run_extras,
    worker_result,
)

REPO = Path(__file__).resolve().parent.parent
LARGE_NOBS = 20_000
TIMEOUT_S = 3600
TOOLS = ("mixedfx", "glmm", "mixedlm", "lme4")
PEERS = ("glmm", "mixedlm", "lme4")

MODELS: list[dict[str, Any]] = [
    {"key": "A", "name": "sleepstudy", "dataset": "sleepstudy",
     "formula": "Reaction ~ Days + (Days | Subject)", "REML": True},
    {"key": "B", "name": "Penicillin", "dataset": "Penicillin",
     "formula": "diameter ~ 1 + (1 | plate) + (1 | sample)", "REML": True},
    {"key": "C", "name": "InstEval", "dataset": "InstEval",
     "formula": "y ~ service + (1 | s) + (1 | d) + (1 | dept)", "REML": False},
    {"key": "D", "name": "cbpp", "dataset": "cbpp",
     "formula": "cbind(incidence, size - incidence) ~ period + (1 | herd)",
     "glmm_formula": "cbind(incidence, failures) ~ period + (1 | herd)",
     "mixedlm_formula": "proportion ~ period + (1 | herd)", "trials": "size",
     "family": "binomial"},
    {"key": "E", "name": "VerbAgg", "dataset": "VerbAgg",
     "formula": "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
     "family": "binomial"},
    {"key": "F", "name": "sim 10k x 500", "simulate": (1_000_000, 10_000, 500, True),
     "formula": "y ~ x + (1 + x | g1) + (1 | g2)", "REML": False, "large": True},
    {"key": "G", "name": "sim 50k x 5k", "simulate": (1_000_000, 50_000, 5_000, False),
     "formula": "y ~ x + (1 | g1) + (1 | g2)", "REML": False, "large": True},
    {"key": "H", "name": "sim 125k groups of 4", "simulate_blocks": (125_000, 4),
     "formula": "y ~ x + (1 + x | g)", "REML": False, "large": True},
]
LARGE_KEYS = ("F", "G", "H")
MODEL_BY_KEY = {m["key"]: m for m in MODELS}
WARMUP = {"gaussian": "A", "binomial": "D"}


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
def simulate(n: int, n1: int, n2: int, slope: bool, seed: int = 20261129) -> Any:
    """y = 1 + 0.5 x + b1[g1] (+ c1[g1] x) + b2[g2] + e, x ~ N(0, 1), seeded."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    g1 = rng.integers(0, n1, n)
    g2 = rng.integers(0, n2, n)
    x = rng.standard_normal(n)
    y = 1.0 + 0.5 * x + rng.normal(0, 1.0, n1)[g1] + rng.normal(0, 0.7, n2)[g2]
    if slope:
        y += rng.normal(0, 0.3, n1)[g1] * x
    y += rng.standard_normal(n)
    cat1 = pd.Categorical.from_codes(g1, [f"a{i}" for i in range(n1)])
    cat2 = pd.Categorical.from_codes(g2, [f"b{i}" for i in range(n2)])
    return pd.DataFrame({"y": y, "x": x, "g1": cat1, "g2": cat2})


def simulate_blocks(n_groups: int, size: int, seed: int = 20261206) -> Any:
    """Model H's data: `n_groups` groups of `size` rows, y = 1 + 0.5 x + b0[g] + b1[g] x + e
    with x, e ~ N(0, 1), b0 ~ N(0, 1), b1 ~ N(0, 0.4²) independent; seeded."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = n_groups * size
    g = np.repeat(np.arange(n_groups), size)
    x = rng.standard_normal(n)
    b0 = rng.normal(0.0, 1.0, n_groups)
    b1 = rng.normal(0.0, 0.4, n_groups)
    y = 1.0 + 0.5 * x + b0[g] + b1[g] * x + rng.standard_normal(n)
    cat = pd.Categorical.from_codes(g, [f"g{i}" for i in range(n_groups)])
    return pd.DataFrame({"y": y, "x": x, "g": cat})


DATA_DIR: Path | None = None       # --data-dir: bundled data sets exported for the peers


def load_data(model: dict[str, Any]) -> Any:
    if "simulate" in model:
        return simulate(*model["simulate"])
    if "simulate_blocks" in model:
        return simulate_blocks(*model["simulate_blocks"])
    if DATA_DIR is not None:
        return read_exported(model["dataset"], DATA_DIR)
    return datasets_module().load(model["dataset"])


def peer_data(model: dict[str, Any], data: Any) -> Any:
    """The same data with the columns the peers' formula syntax needs."""
    import pandas as pd

    data = data.copy()
    if "trials" in model:
        data["failures"] = data[model["trials"]] - data["incidence"]
        data["proportion"] = data["incidence"] / data[model["trials"]]
    for name in data.columns:
        if isinstance(data[name].dtype, pd.CategoricalDtype) and name == "r2":
            data[name] = (data[name] == data[name].cat.categories[-1]).astype(float)
    return data


# --------------------------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------------------------
def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Python worker (fresh subprocess): one tool, one model
# --------------------------------------------------------------------------------------------
def _fitter(tool: str, model: dict[str, Any]) -> Any:
    """fit(data) -> (fitted object, -2 log L, evaluations) for one tool and model."""
    family = model.get("family")
    if tool == "mixedfx":
        mixedfx = import_mixedfx()

        def fit(data: Any) -> tuple[Any, float, str]:
            if family:
                m = mixedfx.glmer(model["formula"], data=data, family=family)
            else:
                m = mixedfx.lmer(model["formula"], data=data, REML=model["REML"])
            return m, -2.0 * float(m.loglik), str(m.optimizer_info["evaluations"])
        return fit
    if tool == "glmm":
        import glmm

        formula = model.get("glmm_formula", model["formula"])

        def fit(data: Any) -> tuple[Any, float, str]:
            kw = {"family": family} if family else {"reml": model["REML"]}
            f = glmm.fit(data, formula, satterthwaite=False, **kw)
            grads = getattr(f, "n_grad", 0) or 0
            return f, -2.0 * float(f.loglik), f"{f.n_eval}+{grads}" if grads else str(f.n_eval)
        return fit
    if tool == "mixedlm":
        import mixedlm

        formula = model.get("mixedlm_formula", model["formula"])

        def fit(data: Any) -> tuple[Any, float, str]:
            if family:
                kw: dict[str, Any] = {}
                if "trials" in model:
                    kw["weights"] = data[model["trials"]].to_numpy(dtype=float)
                g = mixedlm.glmer(formula, data, family=mixedlm.families.Binomial(), **kw)
                evals = g.n_iter
            else:
                g = mixedlm.lmer(formula, data, REML=model["REML"])
                evals = g.function_evals
            return g, -2.0 * float(g.logLik().value if hasattr(g.logLik(), "value")
                                   else g.logLik()), str(evals)
        return fit
    raise ValueError(f"unknown Python tool {tool!r}")


def worker(tool: str, key: str, repeats: int) -> dict[str, Any]:
    import gc
    import warnings

    model = MODEL_BY_KEY[key]
    out: dict[str, Any] = {"tool": tool, "key": key}
    try:
        data = load_data(model)
        warm_model = MODEL_BY_KEY[WARMUP[model.get("family", "gaussian")]]
        warm = load_data(warm_model)
        if tool != "mixedfx":
            data, warm = peer_data(model, data), peer_data(warm_model, warm)
        fit = _fitter(tool, model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _fitter(tool, warm_model)(warm)        # imports and lazy loading, untimed
            times: list[float] = []
            m = None
            for i in range(repeats):
                last = i == repeats - 1
                if last:
                    del m
                    m = None
                    gc.collect()
                    hwm_ok = _reset_hwm()
                    rss0 = _status_kib("VmRSS")
                t0 = time.perf_counter()
                m, dev2, evals = fit(data)
                times.append(time.perf_counter() - t0)
            hwm = _status_kib("VmHWM")
        out.update(times=times, m2ll=dev2, evals=evals, nobs=len(data))
        if tool == "mixedfx":
            out["mixedfx_path"] = str(Path(sys.modules["mixedfx"].__file__).resolve().parent)
        if hwm_ok and hwm is not None and rss0 is not None:
            out["peak_mib"] = (hwm - rss0) / 1024
    except Exception as exc:  # report the failure in the table
        out["error"] = f"{type(exc).__name__}: {exc}"[:300]
    return out


def run_python(tool: str, key: str, repeats: int, python: str,
               data_dir: Path | None = None) -> dict[str, Any]:
    cmd = [python, str(Path(__file__).resolve()), "--worker", f"{tool}:{key}",
           "--repeats", str(repeats)]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"tool": tool, "key": key, "error": f"timeout after {TIMEOUT_S} s"}
    return worker_result(proc, {"tool": tool, "key": key})


# --------------------------------------------------------------------------------------------
# lme4 (Rscript)
# --------------------------------------------------------------------------------------------
R_TEMPLATE = r"""
suppressPackageStartupMessages(library(lme4))
status_kib <- function(field) {
  s <- readLines("/proc/self/status")
  l <- s[startsWith(s, paste0(field, ":"))]
  if (length(l) == 0) return(NA_real_)
  as.numeric(strsplit(trimws(sub(paste0(field, ":"), "", l)), "[[:space:]]+")[[1]][1])
}
reset_hwm <- function() {
  isTRUE(tryCatch({ writeLines("5", "/proc/self/clear_refs"); TRUE }, error = function(e) FALSE))
}
d <- read.csv(@CSV@, colClasses = @CLASSES@, na.strings = "", check.names = FALSE,
              stringsAsFactors = FALSE)
@FACTORS@
invisible(@WARMUP@)
f <- @FORMULA@
repeats <- @REPEATS@
times <- numeric(repeats)
m <- NULL
for (i in seq_len(repeats)) {
  if (i == repeats) {
    m <- NULL; invisible(gc()); hwm_ok <- reset_hwm(); rss0 <- status_kib("VmRSS")
  }
  times[i] <- system.time(m <- @FIT@)[["elapsed"]]
}
hwm <- status_kib("VmHWM")
cat("M2LL", format(-2 * as.numeric(logLik(m)), digits = 17), "\n")
cat("FEVAL", m@optinfo$feval, "\n")
cat("TIMES", format(times, digits = 9), "\n")
cat("PEAK_RSS_MIB", if (hwm_ok) (hwm - rss0) / 1024 else NA, "\n")
cat("VERSION", as.character(packageVersion("lme4")), "\n")
"""


def _r_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid R string literal here


def r_available() -> str | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    proc = subprocess.run([rscript, "-e", 'cat(requireNamespace("lme4", quietly = TRUE))'],
                          capture_output=True, text=True, timeout=120, check=False)
    return rscript if proc.stdout.strip().endswith("TRUE") else None


def _r_fit_call(model: dict[str, Any]) -> str:
    if "family" in model:
        return f"glmer(f, data = d, family = {model['family']})"
    return f"lmer(f, data = d, REML = {'TRUE' if model['REML'] else 'FALSE'})"


def run_lme4(model: dict[str, Any], repeats: int, rscript: str) -> dict[str, Any]:
    import pandas as pd

    out: dict[str, Any] = {"tool": "lme4", "key": model["key"]}
    data = load_data(model)
    with tempfile.TemporaryDirectory(prefix="bench_fit_") as tmp:
        tmpdir = Path(tmp)
        csv = tmpdir / "data.csv"
        data.to_csv(csv, index=False, na_rep="")
        classes, factor_lines = [], []
        for i, name in enumerate(data.columns):
            col = data[name]
            if isinstance(col.dtype, pd.CategoricalDtype):
                classes.append('"character"')
                lv = tmpdir / f"levels_{i}.txt"
                lv.write_text("".join(f"{c}\n" for c in col.cat.categories.astype(str)),
                              encoding="utf-8")
                fun = "ordered" if col.cat.ordered else "factor"
                factor_lines.append(f"d[[{_r_string(name)}]] <- {fun}(d[[{_r_string(name)}]], "
                                    f"levels = readLines({_r_string(str(lv))}))")
            elif pd.api.types.is_numeric_dtype(col.dtype):
                classes.append('"numeric"')
            else:
                classes.append('"character"')
                factor_lines.append(f"d[[{_r_string(name)}]] <- factor(d[[{_r_string(name)}]])")
        warm = ("glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)"
                if "family" in model else "lmer(Reaction ~ Days + (Days | Subject), sleepstudy)")
        script = (R_TEMPLATE.replace("@CSV@", _r_string(str(csv)))
                  .replace("@CLASSES@", "c(" + ", ".join(classes) + ")")
                  .replace("@FACTORS@", "\n".join(factor_lines))
                  .replace("@WARMUP@", warm)
                  .replace("@FORMULA@", f"as.formula({_r_string(model['formula'])})")
                  .replace("@REPEATS@", str(int(repeats)))
                  .replace("@FIT@", _r_fit_call(model)))
        path = tmpdir / "bench.R"
        path.write_text(script, encoding="utf-8")
        try:
            proc = subprocess.run([rscript, "--vanilla", str(path)], capture_output=True,
                                  text=True, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            out["error"] = f"timeout after {TIMEOUT_S} s"
            return out
    fields = {p[0]: p[1:] for p in (ln.split() for ln in proc.stdout.splitlines()) if p}
    if proc.returncode != 0 or "M2LL" not in fields:
        out["error"] = f"Rscript exit {proc.returncode}: " + " | ".join(
            proc.stderr.strip().splitlines()[-2:])
        return out
    out.update(times=[float(x) for x in fields["TIMES"]], m2ll=float(fields["M2LL"][0]),
               evals=fields["FEVAL"][0] if fields.get("FEVAL") else "?", nobs=len(data),
               version=fields["VERSION"][0])
    if fields["PEAK_RSS_MIB"][0] != "NA":
        out["peak_mib"] = float(fields["PEAK_RSS_MIB"][0])
    return out


# --------------------------------------------------------------------------------------------
# neighbour and report
# --------------------------------------------------------------------------------------------
def start_neighbour() -> subprocess.Popen[bytes]:
    """One CPU-bound process beside the fits (stopped by the caller)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def _cell(best: float | None, result: dict[str, Any]) -> str:
    """A time, or "> limit" for a fit stopped at the time limit."""
    if best is None and str(result.get("error", "")).startswith("timeout after "):
        return "> " + result["error"][len("timeout after "):]
    return fmt_seconds(best)


def report(results: list[dict[str, Any]], tools: list[str]) -> str:
    by = {(r["tool"], r["key"], r["condition"]): r for r in results}
    conds = list(dict.fromkeys(r["condition"] for r in results))
    keys = list(dict.fromkeys(r["key"] for r in results))
    head = ["model", "cond.", *[f"{t} s" for t in tools], "mixedfx / fastest peer",
            "peak MiB (" + " / ".join(tools) + ")", "evals (" + " / ".join(tools) + ")",
            "max rel. Δ(−2logL)"]
    lines = ["| " + " | ".join(head) + " |", "| --- | --- |" + " ---: |" * (len(head) - 2)]
    notes = []
    for key in keys:
        for cond in conds:
            rows = [by.get((t, key, cond), {}) for t in tools]
            best = {t: min(r["times"]) if r.get("times") and "error" not in r else None
                    for t, r in zip(tools, rows, strict=True)}
            peers = [v for t, v in best.items() if t != "mixedfx" and v is not None]
            mfx = best.get("mixedfx")
            ratio = f"{mfx / min(peers):.2f}" if mfx and peers else "–"
            peak = " / ".join(f"{r['peak_mib']:.0f}" if "peak_mib" in r else "–" for r in rows)
            evals = " / ".join(str(r.get("evals", "–")) for r in rows)
            ref = by.get(("mixedfx", key, cond), {}).get("m2ll")
            deltas = [abs(r["m2ll"] - ref) / abs(ref) for r in rows
                      if ref is not None and "m2ll" in r]
            delta = f"{max(deltas):.1e}" if len(deltas) > 1 else "–"
            m = MODEL_BY_KEY[key]
            lines.append(f"| {key} {m['name']} | {cond} | "
                         + " | ".join(_cell(best[t], r) for t, r in zip(tools, rows,
                                                                        strict=True))
                         + f" | {ratio} | {peak} | {evals} | {delta} |")
            for t, r in zip(tools, rows, strict=True):
                if "error" in r:
                    notes.append(f"{key} {cond} {t}: {r['error']}")
    return "\n".join(lines + [""] + [f"- {n}" for n in notes])


def main(argv: list[str] | None = None) -> int:
    global TIMEOUT_S
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--models", default="A,B,C,D,E",
                        help="comma-separated model letters (A-E; F, G, H need --large); "
                             "'none' for the extras alone")
    parser.add_argument("--large", action="store_true",
                        help="also run the simulated F, G (1M rows) and H (500k rows)")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--conditions", default="idle,busy")
    parser.add_argument("--repeats", type=int, default=20, help="fits per small model (20)")
    parser.add_argument("--large-repeats", type=int, default=1,
                        help=f"fits per model over {LARGE_NOBS} rows (1)")
    parser.add_argument("--peer-python", default=sys.executable,
                        help="interpreter that has glmm / mixedlm installed")
    parser.add_argument("--mixedfx-python", default=sys.executable,
                        help="interpreter that runs mixedfx (e.g. a plain `pip install .` "
                             "venv's bin/python); the source tree is used if it has no mixedfx")
    parser.add_argument("--plain-install", type=Path, default=None, metavar="DIR",
                        help="make (if missing) a venv DIR with `pip install <repo>` and run "
                             "mixedfx from it (overrides --mixedfx-python)")
    parser.add_argument("--extras", default=",".join(EXTRAS),
                        help="extra mixedfx rows: refit, bootstrap, import, cli (all by "
                             "default; 'none' for none)")
    parser.add_argument("--refit-repeats", type=int, default=200,
                        help="timed sleepstudy refits (200)")
    parser.add_argument("--process-repeats", type=int, default=7,
                        help="fresh processes per import / CLI row (7)")
    parser.add_argument("--json", type=Path, help="also write the raw results to this file")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S,
                        help=f"seconds per tool x model x condition process ({TIMEOUT_S})")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.repeats, args.large_repeats, args.refit_repeats, args.process_repeats) < 1:
        parser.error("repeats must be at least 1")
    if not args.timeout > 0:
        parser.error("timeout must be positive")
    TIMEOUT_S = int(args.timeout) if float(args.timeout).is_integer() else args.timeout
    if args.worker:
        global DATA_DIR
        DATA_DIR = args.data_dir
        tool, key = args.worker.split(":")
        print("RESULT " + json.dumps(worker(tool, key, args.repeats)), flush=True)
        return 0

    keys = [k.strip().upper() for k in args.models.split(",")
            if k.strip() and k.strip().lower() != "none"]
    if args.large:
        keys += [k for k in LARGE_KEYS if k not in keys]
    extras = [e.strip().lower() for e in args.extras.split(",")
              if e.strip() and e.strip().lower() != "none"]
    if bad := [e for e in extras if e not in EXTRAS]:
        parser.error(f"unknown extra(s) {bad}; choose from {EXTRAS} or none")
    mixedfx_python = (plain_install(args.plain_install) if args.plain_install is not None
                      else args.mixedfx_python)
    unknown = [k for k in keys if k not in MODEL_BY_KEY]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {sorted(MODEL_BY_KEY)}")
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if bad := [t for t in tools if t not in TOOLS]:
        parser.error(f"unknown tool(s) {bad}; choose from {TOOLS}")
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    if bad := [c for c in conditions if c not in ("idle", "busy")]:
        parser.error(f"unknown condition(s) {bad}; choose idle and/or busy")
    skipped = []
    rscript = r_available() if "lme4" in tools else None
    if "lme4" in tools and rscript is None:
        tools.remove("lme4")
        skipped.append("lme4 (no Rscript with lme4)")
    for peer in ("glmm", "mixedlm"):
        if peer in tools and not python_has(args.peer_python, peer):
            tools.remove(peer)
            skipped.append(f"{peer} (not importable by {args.peer_python})")

    results = []
    # the peers' interpreter may lack mixedfx's dependencies: give it the bundled data as files
    export_dir = Path(tempfile.mkdtemp(prefix="bench_fit_data_"))
    peer_keys = [*keys, *WARMUP.values()] if keys and {"glmm", "mixedlm"} & set(tools) else []
    for name in {MODEL_BY_KEY[k]["dataset"] for k in peer_keys if "dataset" in MODEL_BY_KEY[k]}:
        export_dataset(name, export_dir)
    for cond in conditions:
        neighbour = start_neighbour() if cond == "busy" else None
        try:
            for key in keys:
                model = MODEL_BY_KEY[key]
                repeats = args.large_repeats if model.get("large") or key == "C" else args.repeats
                for tool in tools:
                    print(f"# {cond} {key} {tool} ({repeats} fit(s))", file=sys.stderr,
                          flush=True)
                    if tool == "lme4":
                        res = run_lme4(model, repeats, rscript)
                    else:
                        if tool == "mixedfx":
                            res = run_python(tool, key, repeats, mixedfx_python)
                        else:
                            res = run_python(tool, key, repeats, args.peer_python, export_dir)
                    res["condition"] = cond
                    results.append(res)
        finally:
            if neighbour is not None:
                neighbour.kill()
                neighbour.wait()
    shutil.rmtree(export_dir, ignore_errors=True)
    extra_rows = run_extras(extras, mixedfx_python, args.refit_repeats,
                            args.process_repeats, TIMEOUT_S) if extras else []
    if results:
        print(report(results, tools))
    if extra_rows:
        print("\n" + report_extras(extra_rows))
    versions = [f"Python {platform.python_version()}", f"{os.cpu_count()} CPU(s)"]
    paths = sorted({r["mixedfx_path"] for r in results + extra_rows if "mixedfx_path" in r})
    versions.append(f"mixedfx run by {mixedfx_python}"
                    + (f" from {', '.join(paths)}" if paths else ""))
    lme4_v = next((r["version"] for r in results if r.get("version")), None)
    if lme4_v:
        versions.append(f"lme4 {lme4_v}")
    print(f"\nTimes: fit call alone, min of repeats, fresh process per tool x model x condition,"
          f" after an untimed warm-up fit. busy: one `while True: pass` process beside the fit."
          f"\n{'; '.join(versions)}" + (f"; skipped: {', '.join(skipped)}" if skipped else ""))
    for r in results:
        if r.get("times") and len(r["times"]) > 1:
            r["median"] = statistics.median(r["times"])
    for r in extra_rows:
        if r.get("times"):
            r["median"] = statistics.median(r["times"])
    if args.json:
        rows = results + [dict(r, extra=True) for r in extra_rows]
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
