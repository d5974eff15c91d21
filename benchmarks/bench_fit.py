#!/usr/bin/env python
"""Benchmark ``mixedfx.lmer`` / ``mixedfx.glmer`` against R's lme4 (time, peak memory, fit).

Models::

    sleepstudy  Reaction ~ Days + (Days | Subject)                   REML
    Penicillin  diameter ~ 1 + (1 | plate) + (1 | sample)            REML
    InstEval    y ~ service + (1 | s) + (1 | d) + (1 | dept)         ML   (skipped with --quick)
    cbpp        cbind(incidence, size - incidence) ~ period + (1 | herd)      binomial, Laplace
    VerbAgg     r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)    binomial, Laplace

For GLMMs the last column compares −2 log-likelihood instead of the deviance.

Usage::

    python benchmarks/bench_fit.py [--quick] [--repeats N] [--large-repeats N] [--no-r]
                                    [--no-tracemalloc] [--json FILE]

Method
------
* Every model is fitted in a fresh Python subprocess. The data are loaded beforehand with
  ``mixedfx.datasets.load`` (or, if that fails, from ``tests/reference/data`` with the column
  types and level orders of the reference case files), and mixedfx is imported before any
  measurement.
* Time: wall-clock seconds of the ``mixedfx.lmer(...)`` call alone (``time.perf_counter``);
  the table shows the best of ``--repeats`` fits (``--large-repeats`` for models with more than
  20000 rows). lme4: ``system.time(m <- lmer(...))["elapsed"]`` around the call alone, in one
  Rscript process per model after ``library(lme4)`` and reading the same data (written to a
  temporary CSV with the same factor levels); the table shows the median of the repeats.
  Minimum and median of both are printed under the table.
* Peak memory: peak resident-set-size increase during one fit (the last one; the previous
  model is deleted and garbage-collected first). The kernel's high-water mark is reset just
  before the fit (``echo 5 > /proc/self/clear_refs``), then ``VmHWM - VmRSS_before`` is read
  from ``/proc/self/status``. The same method is used in Python and in R, so both include
  memory allocated by C/C++ libraries (BLAS, CHOLMOD, Eigen). Where the high-water mark cannot
  be reset, Python falls back to the increase of ``getrusage(RUSAGE_SELF).ru_maxrss`` (a lower
  bound) and R to ``gc()``'s "max used" (R heap only); the method is printed. For small models
  the RSS increase can be close to 0: the allocator reuses memory freed earlier in the process.
  Allocation-based peaks are printed under the table as well: mixedfx's ``tracemalloc`` peak
  (Python objects and NumPy arrays; measured in one extra, untimed fit; ``--no-tracemalloc``
  skips it) and R's heap peak (``gc(reset = TRUE)`` before, ``gc()`` "max used" after; R
  vectors only, not CHOLMOD's own allocations).
* |Δ deviance|: absolute difference of the deviances (REML criterion for REML fits) of the two
  fits of the same run; without R, against the value stored in the reference case file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
REFERENCE_DIR = REPO / "tests" / "reference"
LARGE_NOBS = 20_000
TIMEOUT_S = 3600

MODELS: list[dict[str, Any]] = [
    {
        "key": "sleepstudy",
        "dataset": "sleepstudy",
        "formula": "Reaction ~ Days + (Days | Subject)",
        "REML": True,
        "case": "sleepstudy_slope_reml",
    },
    {
        "key": "Penicillin",
        "dataset": "Penicillin",
        "formula": "diameter ~ 1 + (1 | plate) + (1 | sample)",
        "REML": True,
        "case": "penicillin_crossed_reml",
    },
    {
        "key": "cbpp",
        "dataset": "cbpp",
        "formula": "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        "family": "binomial",
        "case": "cbpp_binomial_laplace",
    },
    {
        "key": "VerbAgg",
        "dataset": "VerbAgg",
        "formula": "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
        "family": "binomial",
        "case": "verbagg_binomial",
    },
    {
        "key": "InstEval",
        "dataset": "InstEval",
        "formula": "y ~ service + (1 | s) + (1 | d) + (1 | dept)",
        "REML": False,
        "case": "insteval_crossed_ml",
        "large": True,
    },
]
MODEL_BY_KEY = {m["key"]: m for m in MODELS}


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
def _import_mixedfx() -> Any:
    try:
        import mixedfx
    except ImportError:
        sys.path.insert(0, str(REPO / "src"))
        import mixedfx
    return mixedfx


def _load_reference_csv(model: dict[str, Any]) -> Any:
    """Data from tests/reference/data, typed with the reference case file."""
    import pandas as pd

    case = json.loads((REFERENCE_DIR / f"{model['case']}.json").read_text(encoding="utf-8"))
    columns: dict[str, str] = case["columns"]
    factor_types = ("factor", "ordered factor")
    string_cols = [c for c, t in columns.items() if t in (*factor_types, "character", "logical")]
    df = pd.read_csv(
        REFERENCE_DIR / "data" / f"{case['data']}.gz",
        dtype=dict.fromkeys(string_cols, str),
        keep_default_na=False,
        na_values=[""],
        # exact doubles: pandas >= 3 parses them exactly by default
        **({} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}),
    )
    fixed = case.get("factor_levels") or {}
    ranef = case["expected"].get("ranef") or {}
    for name, rtype in columns.items():
        col = df[name]
        if rtype in factor_types:
            if name in fixed:
                levels = [str(v) for v in fixed[name]]
            elif name in ranef:
                levels = [str(v) for v in ranef[name]["levels"]]
            else:
                labels = sorted(set(col.dropna()))
                try:
                    levels = sorted(labels, key=float)
                except ValueError:
                    levels = labels
            df[name] = pd.Categorical(col, categories=levels, ordered=rtype == "ordered factor")
        elif rtype == "logical":
            df[name] = col.str.lower().map({"true": True, "false": False})
        elif rtype == "numeric":
            df[name] = col.astype(float)
    return df


def load_data(model: dict[str, Any]) -> tuple[Any, str]:
    """(data frame, description of its source)."""
    try:
        mixedfx = _import_mixedfx()
        from mixedfx import datasets

        del mixedfx
        return datasets.load(model["dataset"]), "mixedfx.datasets"
    except Exception as exc:  # module still being written: fall back to the reference copy
        df = _load_reference_csv(model)
        return df, f"tests/reference/data ({type(exc).__name__} from mixedfx.datasets)"


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


def _maxrss_kib() -> int:
    import resource

    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value // 1024 if sys.platform == "darwin" else value  # bytes on macOS


# --------------------------------------------------------------------------------------------
# mixedfx worker (runs in a fresh subprocess)
# --------------------------------------------------------------------------------------------
def worker(key: str, repeats: int, trace: bool = True) -> dict[str, Any]:
    import gc
    import warnings

    model = MODEL_BY_KEY[key]
    out: dict[str, Any] = {"key": key}
    data, source = load_data(model)
    out["data_source"] = source
    out["rows"] = len(data)
    try:
        mfx = _import_mixedfx()
        out["mixedfx_version"] = getattr(mfx, "__version__", "?")

        def lmer(formula: str, data: Any, REML: bool | None) -> Any:
            if "family" in model:
                return mfx.glmer(formula, data=data, family=model["family"])
            return mfx.lmer(formula, data=data, REML=REML)
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out

    times: list[float] = []
    m = None
    try:
        for i in range(repeats):
            last = i == repeats - 1
            if last:
                del m
                m = None
                gc.collect()
                hwm_reset = _reset_hwm()
                rss0 = _status_kib("VmRSS")
                maxrss0 = _maxrss_kib()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                m = lmer(model["formula"], data=data, REML=model.get("REML"))
                times.append(time.perf_counter() - t0)
            if last:
                hwm = _status_kib("VmHWM")
                if hwm_reset and hwm is not None and rss0 is not None:
                    out["peak_mib"] = (hwm - rss0) / 1024
                    out["peak_method"] = "VmHWM - VmRSS (high-water mark reset)"
                else:
                    out["peak_mib"] = (_maxrss_kib() - maxrss0) / 1024
                    out["peak_method"] = "ru_maxrss increase (lower bound)"
        out["times"] = times
        out["nobs"] = int(m.nobs)
        out["deviance"] = float(m.deviance if "family" not in model else -2 * m.loglik)
        if trace:
            # one more, untimed fit: peak of the allocations Python and NumPy report
            import tracemalloc

            del m
            m = None
            gc.collect()
            tracemalloc.start()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = lmer(model["formula"], data=data, REML=model.get("REML"))
            out["tracemalloc_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["times"] = times
    return out


def run_mixedfx(key: str, repeats: int, trace: bool) -> dict[str, Any]:
    script = str(Path(__file__).resolve())
    cmd = [sys.executable, script, "--worker", key, "--repeats", str(repeats)]
    if not trace:
        cmd.append("--no-tracemalloc")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return {"key": key, "error": f"timeout after {TIMEOUT_S} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"key": key, "error": f"worker exit {proc.returncode}: {' | '.join(tail)}"}


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
  ok <- tryCatch({ writeLines("5", "/proc/self/clear_refs"); TRUE }, error = function(e) FALSE)
  isTRUE(ok)
}
d <- read.csv(@CSV@, colClasses = @CLASSES@, na.strings = "", check.names = FALSE,
              stringsAsFactors = FALSE)
@FACTORS@
f <- @FORMULA@
repeats <- @REPEATS@
times <- numeric(repeats)
m <- NULL
for (i in seq_len(repeats)) {
  last <- i == repeats
  if (last) {
    m <- NULL
    invisible(gc())
    hwm_ok <- reset_hwm()
    rss0 <- status_kib("VmRSS")
    g0 <- gc(reset = TRUE)
  }
  times[i] <- system.time(m <- @FIT@)[["elapsed"]]
  if (last) {
    hwm <- status_kib("VmHWM")
    g1 <- gc()
    heap_mib <- sum(g1[, 6]) - sum(g0[, 2])
  }
}
dev <- if (isGLMM(m)) -2 * as.numeric(logLik(m)) else if (isREML(m)) REMLcrit(m) else deviance(m)
cat("R_VERSION", paste(R.version$major, R.version$minor, sep = "."), "\n")
cat("LME4_VERSION", as.character(packageVersion("lme4")), "\n")
cat("NOBS", nobs(m), "\n")
cat("DEVIANCE", format(dev, digits = 17), "\n")
cat("TIMES", format(times, digits = 9), "\n")
cat("HWM_OK", hwm_ok, "\n")
cat("PEAK_RSS_MIB", if (hwm_ok) (hwm - rss0) / 1024 else NA, "\n")
cat("PEAK_HEAP_MIB", heap_mib, "\n")
"""


def _r_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid R string literal here


def r_available() -> tuple[bool, str]:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return False, "Rscript not on PATH"
    try:
        proc = subprocess.run(
            [rscript, "-e", 'cat(requireNamespace("lme4", quietly = TRUE))'],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"Rscript failed: {exc}"
    if proc.stdout.strip().endswith("TRUE"):
        return True, rscript
    return False, "R package lme4 not installed"


def run_lme4(model: dict[str, Any], data: Any, repeats: int, rscript: str) -> dict[str, Any]:
    import pandas as pd

    out: dict[str, Any] = {"key": model["key"]}
    with tempfile.TemporaryDirectory(prefix="bench_fit_") as tmp:
        tmpdir = Path(tmp)
        csv = tmpdir / "data.csv"
        data.to_csv(csv, index=False, na_rep="")
        classes = []
        factor_lines = []
        for i, name in enumerate(data.columns):
            col = data[name]
            if isinstance(col.dtype, pd.CategoricalDtype):
                classes.append('"character"')
                lv = tmpdir / f"levels_{i}.txt"
                lv.write_text(
                    "".join(f"{c}\n" for c in col.cat.categories.astype(str)), encoding="utf-8"
                )
                fun = "ordered" if col.cat.ordered else "factor"
                factor_lines.append(
                    f"d[[{_r_string(name)}]] <- {fun}(d[[{_r_string(name)}]], "
                    f"levels = readLines({_r_string(str(lv))}, encoding = 'UTF-8'))"
                )
            elif pd.api.types.is_bool_dtype(col.dtype):
                classes.append('"logical"')
            elif pd.api.types.is_numeric_dtype(col.dtype):
                classes.append('"numeric"')
            else:
                classes.append('"character"')
                # strings are factors for lmer, levels sorted as R sorts them
                factor_lines.append(f"d[[{_r_string(name)}]] <- factor(d[[{_r_string(name)}]])")
        script = (
            R_TEMPLATE.replace("@CSV@", _r_string(str(csv)))
            .replace("@CLASSES@", "c(" + ", ".join(classes) + ")")
            .replace("@FACTORS@", "\n".join(factor_lines))
            .replace("@FORMULA@", f"as.formula({_r_string(model['formula'])})")
            .replace("@REPEATS@", str(int(repeats)))
            .replace("@FIT@", _r_fit_call(model))
        )
        path = tmpdir / "bench.R"
        path.write_text(script, encoding="utf-8")
        try:
            proc = subprocess.run(
                [rscript, "--vanilla", str(path)],
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            out["error"] = f"timeout after {TIMEOUT_S} s"
            return out
    fields: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if parts:
            fields[parts[0]] = parts[1:]
    if proc.returncode != 0 or "DEVIANCE" not in fields:
        tail = proc.stderr.strip().splitlines()[-3:]
        out["error"] = f"Rscript exit {proc.returncode}: {' | '.join(tail)}"
        return out
    out["times"] = [float(x) for x in fields["TIMES"]]
    out["nobs"] = int(fields["NOBS"][0])
    out["deviance"] = float(fields["DEVIANCE"][0])
    out["r_version"] = fields["R_VERSION"][0]
    out["lme4_version"] = fields["LME4_VERSION"][0]
    hwm_ok = fields.get("HWM_OK", ["FALSE"])[0] == "TRUE"
    if hwm_ok:
        out["peak_mib"] = float(fields["PEAK_RSS_MIB"][0])
        out["peak_method"] = "VmHWM - VmRSS (high-water mark reset)"
    else:
        out["peak_mib"] = float(fields["PEAK_HEAP_MIB"][0])
        out["peak_method"] = "gc() max used - used before (R heap only)"
    out["peak_heap_mib"] = float(fields["PEAK_HEAP_MIB"][0])
    return out


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
def _fmt(x: float | None, spec: str) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return format(x, spec)


def _r_fit_call(model: dict[str, Any]) -> str:
    if "family" in model:
        return f"glmer(f, data = d, family = {model['family']})"
    return f"lmer(f, data = d, REML = {'TRUE' if model['REML'] else 'FALSE'})"


def reference_deviance(model: dict[str, Any]) -> float | None:
    path = REFERENCE_DIR / f"{model['case']}.json"
    try:
        expected = json.loads(path.read_text(encoding="utf-8"))["expected"]
        if "family" in model:
            return -2.0 * float(expected["loglik"])
        return float(expected["deviance"])
    except (OSError, KeyError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="skip InstEval")
    parser.add_argument("--repeats", type=int, default=5, help="fits per small model (5)")
    parser.add_argument(
        "--large-repeats", type=int, default=1, help=f"fits per model over {LARGE_NOBS} rows (1)"
    )
    parser.add_argument("--no-r", action="store_true", help="do not run lme4 even if available")
    parser.add_argument(
        "--no-tracemalloc",
        action="store_true",
        help="skip the extra mixedfx fit that measures Python-side allocations",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.large_repeats < 1:
        parser.error("repeats must be at least 1")

    if args.worker:
        result = worker(args.worker, args.repeats, trace=not args.no_tracemalloc)
        print("RESULT " + json.dumps(result), flush=True)
        return 0

    models = [m for m in MODELS if not (args.quick and m.get("large"))]
    if args.no_r:
        have_r, r_info = False, "disabled (--no-r)"
    else:
        have_r, r_info = r_available()

    rows = []
    for model in models:
        repeats = args.large_repeats if model.get("large") else args.repeats
        print(f"# {model['key']}: mixedfx ({repeats} fit(s)) ...", file=sys.stderr, flush=True)
        py = run_mixedfx(model["key"], repeats, trace=not args.no_tracemalloc)
        r: dict[str, Any] = {}
        if have_r:
            print(f"# {model['key']}: lme4 ({repeats} fit(s)) ...", file=sys.stderr, flush=True)
            data, _ = load_data(model)
            r = run_lme4(model, data, repeats, r_info)
        rows.append((model, py, r))

    lines = [
        "| model | nobs | mixedfx s | lme4 s | ratio (lme4/mixedfx) | mixedfx peak MiB "
        "| lme4 peak MiB | \\|Δ deviance\\| |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    notes: list[str] = []
    for model, py, r in rows:
        label = f"{model['key']} {model.get('family') or ('REML' if model['REML'] else 'ML')}"
        py_t = min(py["times"]) if py.get("times") and "error" not in py else None
        r_t = statistics.median(r["times"]) if r.get("times") else None
        ratio = r_t / py_t if py_t and r_t else None
        nobs = py.get("nobs") or r.get("nobs") or py.get("rows")
        if "deviance" in py and "deviance" in r:
            ddev: float | None = abs(py["deviance"] - r["deviance"])
            dev_note = ""
        elif "deviance" in py and (ref := reference_deviance(model)) is not None:
            ddev, dev_note = abs(py["deviance"] - ref), " (ref.)"
        else:
            ddev, dev_note = None, ""
        lines.append(
            f"| {label} | {nobs if nobs is not None else '–'} | {_fmt(py_t, '.4f')} "
            f"| {_fmt(r_t, '.4f')} | {_fmt(ratio, '.2f')} | {_fmt(py.get('peak_mib'), '.1f')} "
            f"| {_fmt(r.get('peak_mib'), '.1f')} | {_fmt(ddev, '.2e')}{dev_note} |"
        )
        if "error" in py:
            notes.append(f"{model['key']}: mixedfx failed: {py['error']}")
        if "error" in r:
            notes.append(f"{model['key']}: lme4 failed: {r['error']}")
        detail = [f"{model['key']}: data from {py.get('data_source', '?')}"]
        if py.get("times") and "error" not in py:
            detail.append(
                f"mixedfx min {min(py['times']):.4f} s / median "
                f"{statistics.median(py['times']):.4f} s over {len(py['times'])}"
                + (
                    f", tracemalloc peak {py['tracemalloc_peak_mib']:.1f} MiB"
                    if "tracemalloc_peak_mib" in py
                    else ""
                )
            )
        if r.get("times"):
            detail.append(
                f"lme4 min {min(r['times']):.4f} s / median "
                f"{statistics.median(r['times']):.4f} s over {len(r['times'])}, "
                f"R heap peak {r['peak_heap_mib']:.1f} MiB"
            )
        notes.append("; ".join(detail))

    print("\n".join(lines))
    print()
    methods = {py.get("peak_method") for _, py, _ in rows if py.get("peak_method")}
    r_methods = {r.get("peak_method") for _, _, r in rows if r.get("peak_method")}
    versions = [f"Python {platform.python_version()}", f"{platform.machine()}"]
    mfx_versions = {py.get("mixedfx_version") for _, py, _ in rows if py.get("mixedfx_version")}
    versions += [f"mixedfx {v}" for v in sorted(mfx_versions)]
    r_ver = next((r for _, _, r in rows if r.get("r_version")), None)
    if r_ver:
        versions.append(f"R {r_ver['r_version']}, lme4 {r_ver['lme4_version']}")
    else:
        versions.append(f"lme4 not run: {r_info}")
    cpus = os.cpu_count()
    print(
        textwrap.dedent(
            f"""\
            Times: wall-clock seconds of the fitting call alone; mixedfx best of the repeats,
            lme4 median of the repeats (system.time elapsed). Each model in a fresh process.
            Peak MiB: resident-memory increase during one fit; mixedfx: {
                ", ".join(sorted(methods)) or "–"
            }; lme4: {", ".join(sorted(r_methods)) or "–"}.
            |Δ deviance|: deviance (REML criterion for REML fits) of the two fits of this run;
            "(ref.)" marks a comparison with the reference case file when lme4 did not run.
            Machine: {cpus} CPU(s); {"; ".join(versions)}."""
        )
    )
    for note in notes:
        print(f"- {note}")
    if args.json:
        payload = [{"model": m, "mixedfx": py, "lme4": r} for m, py, r in rows]
        args.json.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
