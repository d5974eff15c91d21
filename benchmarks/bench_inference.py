#!/usr/bin/env python
"""Benchmark mixedfx's inference against R (lmerTest, pbkrtest, lme4) in the same run.

Operations, on a fitted REML model::

    Satterthwaite summary   m.summary()                       summary(as_lmerModLmerTest(m))
    Kenward-Roger summary   m.summary(ddf="Kenward-Roger")    summary(<lmerModLmerTest>, ddf = "KR")
    profile confint         m.confint()                       confint(m, method = "profile")

Models::

    sleepstudy  Reaction ~ Days + (Days | Subject)                                  (n = 180)
    hsb         mathach ~ meanses * cses + sector * cses + (cses | school)         (n = 7185)

Usage::

    python benchmarks/bench_inference.py [--repeats N] [--quick] [--no-r] [--r-timeout S]
                                         [--json FILE]

Method
------
* mixedfx: for every repeat the model is fitted afresh (untimed), so nothing computed by an
  earlier call is reused (the Satterthwaite and KR ingredients are cached per fitted model);
  then the operation alone is timed with ``time.perf_counter``. The table shows the best of
  ``--repeats`` (median under the table).
* R: one Rscript process per model reads the same data (written to a temporary CSV with the
  same factor levels), fits with ``lme4::lmer`` (untimed) and times each operation with
  ``system.time(...)["elapsed"]``; lmerTest's Satterthwaite ingredients (``as_lmerModLmerTest``,
  numerical Hessian and Jacobian) are inside the timed call, as are pbkrtest's ``vcovAdj`` calls
  (lmerTest computes one per coefficient). Operations slower than 60 s run once; each is
  stopped after ``--r-timeout`` seconds.
* "max rel. diff": the largest relative difference between the two implementations' results
  of the same run (df of every coefficient; KR df and adjusted SEs; every profile limit except
  those at a parameter bound).
* Ratio = R time / mixedfx time (> 1: mixedfx is faster).
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
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

MODELS: list[dict[str, Any]] = [
    {"key": "sleepstudy", "dataset": "sleepstudy",
     "formula": "Reaction ~ Days + (Days | Subject)"},
    {"key": "hsb", "dataset": "hsb",
     "formula": "mathach ~ meanses * cses + sector * cses + (cses | school)"},
]
OPERATIONS = ["Satterthwaite summary", "Kenward-Roger summary", "profile confint"]


def _import_mixedfx() -> Any:
    try:
        import mixedfx
    except ImportError:
        sys.path.insert(0, str(REPO / "src"))
        import mixedfx
    return mixedfx


# --------------------------------------------------------------------------------------------
# mixedfx
# --------------------------------------------------------------------------------------------
def _operation(m: Any, op: str) -> dict[str, list[float]]:
    """Run one operation; return the numbers compared with R."""
    if op == "Satterthwaite summary":
        c = m.summary().coefficients
        return {"df": c["df"].tolist()}
    if op == "Kenward-Roger summary":
        c = m.summary(ddf="Kenward-Roger").coefficients
        return {"df": c["df"].tolist(), "se": c["Std. Error"].tolist()}
    ci = m.confint()
    return {"lower": ci["lower"].tolist(), "upper": ci["upper"].tolist()}


def run_mixedfx(model: dict[str, Any], repeats: int) -> dict[str, Any]:
    mfx = _import_mixedfx()
    data = mfx.datasets.load(model["dataset"])
    out: dict[str, Any] = {"rows": len(data), "ops": {}}
    for op in OPERATIONS:
        times: list[float] = []
        values: dict[str, list[float]] = {}
        for _ in range(repeats):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = mfx.lmer(model["formula"], data=data)
                t0 = time.perf_counter()
                values = _operation(m, op)
                times.append(time.perf_counter() - t0)
        out["ops"][op] = {"times": times, "values": values}
    return out


# --------------------------------------------------------------------------------------------
# R
# --------------------------------------------------------------------------------------------
R_TEMPLATE = r"""
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(pbkrtest)})
d <- read.csv(@CSV@, na.strings = "", check.names = FALSE, stringsAsFactors = FALSE)
@FACTORS@
m <- lme4::lmer(@FORMULA@, data = d, REML = TRUE)
repeats <- @REPEATS@
limit <- @TIMEOUT@
timed <- function(label, expr_fun, emit) {
  times <- c()
  for (i in seq_len(repeats)) {
    setTimeLimit(elapsed = limit, transient = TRUE)
    res <- tryCatch({
      t <- system.time(v <- expr_fun())[["elapsed"]]
      list(t = t, v = v)
    }, error = function(e) NULL)
    setTimeLimit(elapsed = Inf)
    if (is.null(res)) { cat("RESULT", label, "TIMEOUT\n"); return(invisible()) }
    times <- c(times, res$t)
    last <- res$v
    if (res$t > 60) break
  }
  cat("RESULT", label, "TIMES", format(times, digits = 9), "\n")
  emit(label, last)
}
emit_cols <- function(cols) function(label, v) {
  for (nm in names(cols)) cat("RESULT", label, toupper(nm),
                               format(v[, cols[[nm]]], digits = 17), "\n")
}
timed("sat", function() coef(summary(as_lmerModLmerTest(m))), emit_cols(list(df = "df")))
mt <- as_lmerModLmerTest(m)
timed("kr", function() coef(summary(mt, ddf = "Kenward-Roger")),
      emit_cols(list(df = "df", se = "Std. Error")))
timed("prof", function() suppressWarnings(suppressMessages(
        confint(m, method = "profile", oldNames = FALSE))),
      emit_cols(list(lower = 1, upper = 2)))
cat("RESULT VERSIONS", as.character(packageVersion("lme4")),
    as.character(packageVersion("lmerTest")), as.character(packageVersion("pbkrtest")), "\n")
"""

R_LABELS = {"sat": "Satterthwaite summary", "kr": "Kenward-Roger summary",
            "prof": "profile confint"}


def r_available() -> tuple[bool, str]:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return False, "Rscript not on PATH"
    code = 'cat(all(sapply(c("lme4", "lmerTest", "pbkrtest"), requireNamespace, quietly=TRUE)))'
    try:
        proc = subprocess.run([rscript, "-e", code], capture_output=True, text=True,
                              timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    if proc.stdout.strip() != "TRUE":
        return False, "lme4, lmerTest or pbkrtest not installed"
    return True, rscript


def _r_factor_code(data: Any) -> str:
    import pandas as pd

    lines = []
    for col in data.columns:
        if isinstance(data[col].dtype, pd.CategoricalDtype):
            levels = ", ".join(json.dumps(str(v)) for v in data[col].cat.categories)
            lines.append(f"d[[{json.dumps(col)}]] <- factor(as.character(d[[{json.dumps(col)}]]),"
                         f" levels = c({levels}))")
    return "\n".join(lines)


def run_r(model: dict[str, Any], repeats: int, timeout: float, rscript: str) -> dict[str, Any]:
    mfx = _import_mixedfx()
    data = mfx.datasets.load(model["dataset"])
    out: dict[str, Any] = {"ops": {}}
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        data.to_csv(csv, index=False)
        script = (R_TEMPLATE.replace("@CSV@", json.dumps(str(csv)))
                  .replace("@FACTORS@", _r_factor_code(data))
                  .replace("@FORMULA@", model["formula"])
                  .replace("@REPEATS@", str(repeats))
                  .replace("@TIMEOUT@", str(float(timeout))))
        path = Path(tmp) / "bench.R"
        path.write_text(script, encoding="utf-8")
        try:
            proc = subprocess.run([rscript, str(path)], capture_output=True, text=True,
                                  timeout=4 * timeout + 600, check=False)
        except subprocess.TimeoutExpired:
            return {"error": "Rscript timed out", "ops": {}}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if not parts or parts[0] != "RESULT":
            continue
        if parts[1] == "VERSIONS":
            out["versions"] = parts[2:]
            continue
        op = R_LABELS[parts[1]]
        entry = out["ops"].setdefault(op, {"values": {}})
        if parts[2] == "TIMEOUT":
            entry["timeout"] = True
        elif parts[2] == "TIMES":
            entry["times"] = [float(v) for v in parts[3:]]
        else:
            entry["values"][parts[2].lower()] = [float(v) for v in parts[3:]]
    if not out["ops"]:
        out["error"] = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return out


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
def max_rel_diff(a: dict[str, list[float]], b: dict[str, list[float]]) -> float | None:
    worst = None
    for key, xs in a.items():
        ys = b.get(key)
        if ys is None or len(ys) != len(xs):
            continue
        for x, y in zip(xs, ys, strict=True):
            if y in (0.0, 1.0, -1.0) and x == y:       # limit at a parameter bound
                continue
            if y != y or x != x:
                continue
            d = abs(x - y) / max(abs(y), 1e-12)
            worst = d if worst is None else max(worst, d)
    return worst


def _fmt_t(times: list[float] | None) -> str:
    if not times:
        return "–"
    t = min(times)
    return f"{t * 1000:.1f} ms" if t < 1 else f"{t:.2f} s"


def report(results: dict[str, Any], r_note: str) -> str:
    lines = ["| model | operation | mixedfx | R | R / mixedfx | max rel. diff |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    medians = []
    for key, res in results.items():
        py = res["mixedfx"]
        r = res.get("r") or {"ops": {}}
        for op in OPERATIONS:
            p = py["ops"][op]
            q = r["ops"].get(op, {})
            rt = "timeout" if q.get("timeout") else _fmt_t(q.get("times"))
            ratio = (f"{min(q['times']) / min(p['times']):.1f}×" if q.get("times")
                     else "–")
            diff = max_rel_diff(p["values"], q.get("values", {}))
            lines.append(f"| {key} (n={py['rows']}) | {op} | {_fmt_t(p['times'])} | {rt} | "
                         f"{ratio} | {'–' if diff is None else f'{diff:.1e}'} |")
            med_r = f"{statistics.median(q['times']):.4g}" if q.get("times") else "–"
            medians.append(f"{key} / {op}: mixedfx median {statistics.median(p['times']):.4g} s"
                           f", R median {med_r} s")
    lines += ["", "Best of the repeats; medians: " + "; ".join(medians) + ".", r_note]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="sleepstudy only")
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--r-timeout", type=float, default=900.0)
    ap.add_argument("--json", type=str, default=None)
    args = ap.parse_args()
    models = MODELS[:1] if args.quick else MODELS
    ok, rinfo = (False, "R skipped (--no-r)") if args.no_r else r_available()
    results: dict[str, Any] = {}
    for model in models:
        print(f"# {model['key']}: mixedfx ...", file=sys.stderr, flush=True)
        results[model["key"]] = {"mixedfx": run_mixedfx(model, args.repeats)}
        if ok:
            print(f"# {model['key']}: R ...", file=sys.stderr, flush=True)
            results[model["key"]]["r"] = run_r(model, args.repeats, args.r_timeout, rinfo)
    versions = next((res["r"].get("versions") for res in results.values()
                     if res.get("r", {}).get("versions")), None)
    note = (f"R: lme4 {versions[0]}, lmerTest {versions[1]}, pbkrtest {versions[2]}."
            if versions else f"R not run: {rinfo}.")
    mfx = _import_mixedfx()
    note += (f" mixedfx {mfx.__version__}, Python {platform.python_version()}, "
             f"{os.cpu_count()} CPUs.")
    text = report(results, note)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
