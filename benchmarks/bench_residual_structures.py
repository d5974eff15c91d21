#!/usr/bin/env python
"""nlme residual structures (lme and gls): mixedfx against nlme in the same run (the
random-effect covariance structures are in bench_structures.py).

Every model is fitted in this process after one untimed warm-up fit; the time is the median
of `--repeats` fits of the call alone. R (when `Rscript` is on the PATH and `--no-r` is not
given) fits the same model in one Rscript process per model after loading the packages and
the same data, timing `system.time(...)["elapsed"]` of the call alone (median of the same
number of repeats). The last column compares the log-likelihoods of the two fits.

Usage: python benchmarks/bench_residual_structures.py [--repeats N] [--no-r]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests" / "reference"))

from cases import load_case, load_data  # noqa: E402

import mixedfx as mfx  # noqa: E402


def _gpa() -> Any:
    return load_data(load_case("gpa_lme_varident"))


def _orthodont() -> Any:
    d = mfx.datasets.load("Orthodont")
    return d.assign(visit=d["age"].rank(method="dense").astype(int))


MODELS: list[dict[str, Any]] = [
    {"name": "gpa varIdent (lme)", "data": _gpa,
     "py": lambda d: mfx.lmer("gpa ~ occasion + (1 | student)", d,
                              weights=mfx.var_ident("~ 1 | occasion")),
     "r": "lme(gpa ~ occasion, random = ~1 | student, data = d, "
          "weights = varIdent(form = ~1 | occasion))"},
    {"name": "gpa AR(1) (lme)", "data": _gpa,
     "py": lambda d: mfx.lmer("gpa ~ occasion + (1 | student)", d,
                              correlation=mfx.cor_ar1("~ occasion")),
     "r": "lme(gpa ~ occasion, random = ~1 | student, data = d, "
          "correlation = corAR1(form = ~occasion))"},
    {"name": "Orthodont varPower (lme)", "data": _orthodont,
     "py": lambda d: mfx.lmer("distance ~ age + Sex + (1 | Subject)", d,
                              weights=mfx.var_power("~ age")),
     "r": "lme(distance ~ age + Sex, random = ~1 | Subject, data = d, "
          "weights = varPower(form = ~age))"},
    {"name": "Orthodont compound symmetry (lme)", "data": _orthodont,
     "py": lambda d: mfx.lmer("distance ~ age + Sex + (1 | Subject)", d,
                              correlation=mfx.cor_comp_symm("~ 1 | Subject")),
     "r": "lme(distance ~ age + Sex, random = ~1 | Subject, data = d, "
          "correlation = corCompSymm(form = ~1 | Subject))"},
    {"name": "Orthodont MMRM corSymm + varIdent (gls)", "data": _orthodont,
     "py": lambda d: mfx.gls("distance ~ age * Sex", d,
                             correlation=mfx.cor_symm("~ visit | Subject"),
                             weights=mfx.var_ident("~ 1 | visit")),
     "r": "gls(distance ~ age * Sex, data = d, correlation = corSymm(form = ~visit | Subject), "
          "weights = varIdent(form = ~1 | visit))"},
]


def time_python(model: dict[str, Any], repeats: int) -> tuple[float, float]:
    d = model["data"]()
    fit = model["py"](d)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fit = model["py"](d)
        times.append(time.perf_counter() - t)
    return statistics.median(times), fit.loglik


R_TEMPLATE = """
suppressMessages({{library(nlme); library(glmmTMB)}})
d <- read.csv("{csv}", stringsAsFactors = FALSE)
lv <- {levels}
for (col in names(d)) if (col %in% c({factors})) d[[col]] <- factor(d[[col]], levels = lv[[col]])
m <- {call}
times <- replicate({repeats}, system.time(m <- {call})[["elapsed"]])
cat(median(times), as.numeric(logLik(m)), "\\n")
"""


def time_r(model: dict[str, Any], repeats: int) -> tuple[float, float] | None:
    d = model["data"]()
    factors = [c for c in d.columns if str(d[c].dtype) == "category"]
    levels = "list(" + ", ".join(
        f"{c} = c({', '.join(json.dumps(str(v)) for v in d[c].cat.categories)})"
        for c in factors) + ")"
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        d.to_csv(csv, index=False)
        script = R_TEMPLATE.format(csv=csv, factors=", ".join(json.dumps(c) for c in factors),
                                   levels=levels, call=model["r"], repeats=repeats)
        out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True,
                             timeout=600)
    if out.returncode != 0:
        print(f"R failed for {model['name']}: {out.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    t, ll = out.stdout.split()
    return float(t), float(ll)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-r", action="store_true")
    args = ap.parse_args()
    use_r = not args.no_r and shutil.which("Rscript") is not None
    print("| model | mixedfx | R (nlme) | R / mixedfx | Δ logLik |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for model in MODELS:
        t_py, ll_py = time_python(model, args.repeats)
        r = time_r(model, args.repeats) if use_r else None
        if r is None:
            print(f"| {model['name']} | {t_py * 1e3:.1f} ms | – | – | – |")
        else:
            t_r, ll_r = r
            print(f"| {model['name']} | {t_py * 1e3:.1f} ms | {t_r * 1e3:.1f} ms | "
                  f"{t_r / t_py:.2f} | {ll_py - ll_r:+.1e} |")


if __name__ == "__main__":
    main()
