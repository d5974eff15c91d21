#!/usr/bin/env python
"""Benchmark structured random-effect covariances and the ML Gamma dispersion against
glmmTMB (and nlme for homcs) in the same run.

Models (the reference fits of tests/reference/extra/make_structures_tmb.R)::

    Pastes   strength ~ 1 + diag / cs / ar1 / toep (0 + cask | batch)         ML
    Pastes   strength ~ 1 + homcs(0 + cask | batch)   (nlme: pdCompSymm)      ML
    gpa      gpa ~ occasion + ar1(0 + occas | student) + (1 | student)       ML
    gpa      gpa ~ occasion + (1 | student) + diag(0 + occas | student)      ML
    gamma    y ~ x + (1 | g), Gamma(log), dispersion by ML

Usage::

    python benchmarks/bench_structures.py [--repeats N] [--no-r]

Method: mixedfx's time is the best of `--repeats` fits of the fitting call alone
(`time.perf_counter`, data loaded beforehand); R's is the median of `--repeats`
`system.time()` of the glmmTMB / lme call alone in one Rscript process reading the same CSV
files. The last column is the absolute difference of the log-likelihoods of the two fits.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

MODELS = [
    # (label, data, formula, family, R call)
    ("Pastes diag", "Pastes", "strength ~ 1 + diag(0 + cask | batch)", "gaussian",
     'glmmTMB(strength ~ 1 + diag(0 + cask | batch), data = Pastes)'),
    ("Pastes cs", "Pastes", "strength ~ 1 + cs(0 + cask | batch)", "gaussian",
     'glmmTMB(strength ~ 1 + cs(0 + cask | batch), data = Pastes)'),
    ("Pastes ar1", "Pastes", "strength ~ 1 + ar1(0 + cask | batch)", "gaussian",
     'glmmTMB(strength ~ 1 + ar1(0 + cask | batch), data = Pastes)'),
    ("Pastes toep", "Pastes", "strength ~ 1 + toep(0 + cask | batch)", "gaussian",
     'glmmTMB(strength ~ 1 + toep(0 + cask | batch), data = Pastes)'),
    ("Pastes homcs (nlme)", "Pastes", "strength ~ 1 + homcs(0 + cask | batch)", "gaussian",
     'lme(strength ~ 1, random = list(batch = pdCompSymm(~ 0 + cask)), data = Pastes, '
     'method = "ML")'),
    ("gpa ar1 + (1|student)", "gpa",
     "gpa ~ occasion + ar1(0 + occas | student) + (1 | student)", "gaussian",
     'glmmTMB(gpa ~ occasion + ar1(0 + occas | student) + (1 | student), data = gpa)'),
    ("gpa (1|student) + diag", "gpa",
     "gpa ~ occasion + (1 | student) + diag(0 + occas | student)", "gaussian",
     'glmmTMB(gpa ~ occasion + (1 | student) + diag(0 + occas | student), data = gpa)'),
    ("Gamma(log), ML dispersion", "gamma_sim", "y ~ x + (1 | g)", "Gamma",
     'glmmTMB(y ~ x + (1 | g), data = gamma_sim, family = Gamma(link = "log"))'),
]

R_SCRIPT = r"""
suppressMessages({library(glmmTMB); library(nlme); library(jsonlite)})
args <- commandArgs(TRUE); reps <- as.integer(args[2])
spec <- fromJSON(args[1], simplifyVector = FALSE)
dat <- list()
for (nm in names(spec$data)) {
  d <- read.csv(spec$data[[nm]]$path, stringsAsFactors = FALSE)
  for (col in names(spec$data[[nm]]$factors))
    d[[col]] <- factor(d[[col]], levels = unlist(spec$data[[nm]]$factors[[col]]))
  dat[[nm]] <- d
}
attach(dat)
out <- lapply(spec$calls, function(cl) {
  e <- parse(text = cl)[[1]]
  times <- numeric(reps)
  for (i in seq_len(reps)) times[i] <- system.time(m <- eval(e))[["elapsed"]]
  list(time = median(times), loglik = as.numeric(logLik(m)))
})
cat(toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-r", action="store_true")
    args = ap.parse_args()
    import mixedfx as mfx
    from reference import structures as refs

    rows = []
    for label, data_name, formula, family, _ in MODELS:
        d = refs.data(data_name)
        best, m = float("inf"), None
        for _ in range(args.repeats):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                if family == "gaussian":
                    m = mfx.lmer(formula, d, REML=False)
                else:
                    m = mfx.glmer(formula, d, family=mfx.families.Gamma(link="log"))
                best = min(best, time.perf_counter() - t0)
        rows.append([label, m.nobs, best, m.loglik])
    r_results = None
    if not args.no_r and shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as tmp:
            spec = {"data": {}, "calls": [call for *_, call in MODELS]}
            for name in {m[1] for m in MODELS}:
                d = refs.data(name)
                path = Path(tmp) / f"{name}.csv"
                d.to_csv(path, index=False)
                factors = {c: [str(v) for v in d[c].cat.categories]
                           for c in d.columns if str(d[c].dtype) == "category"}
                spec["data"][name] = {"path": str(path), "factors": factors}
            proc = subprocess.run(["Rscript", "-e", R_SCRIPT, json.dumps(spec),
                                   str(args.repeats)], capture_output=True, text=True)
            if proc.returncode == 0:
                r_results = json.loads(proc.stdout.strip().splitlines()[-1])
            else:
                print("R failed:", proc.stderr[-500:], file=sys.stderr)
    print("| model | rows | mixedfx | R (glmmTMB / nlme) | R / mixedfx | abs. diff. logLik |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for i, (label, n, t, ll) in enumerate(rows):
        if r_results:
            rt, rll = r_results[i]["time"], r_results[i]["loglik"]
            print(f"| {label} | {n} | {t:.3f} s | {rt:.3f} s | {rt / t:.1f} | "
                  f"{abs(ll - rll):.1e} |")
        else:
            print(f"| {label} | {n} | {t:.3f} s | – | – | – |")
    if r_results:
        print(f"\nR timings: median of {args.repeats}; mixedfx: best of {args.repeats}.")


if __name__ == "__main__":
    main()
