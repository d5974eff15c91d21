"""Fuzzing the public entry points with random formula / data / argument triples.

`cases()` is a hypothesis strategy over lme4's formula grammar (transformations, bars,
nesting, stray parentheses, unicode), data frames (NaN / None / inf, object columns of dicts,
datetimes, one-level and all-distinct factors, constant and collinear columns, extreme
magnitudes) and arguments (families and links, nAGQ, REML, weights, control, start).
`run_case` fits one case under a wall-clock limit and classifies the outcome:

* "fit"        a model with finite log-likelihood and estimates;
* "error"      a MixedfxError, or a ValueError / TypeError raised by mixedfx's own code, with a
               message;
* "nonfinite"  a returned fit with a non-finite log-likelihood or estimate (a bug);
* "foreign"    any other exception (a bug);
* "hang"       the case ran past its time limit (a bug);
* "stdout"     something was written to the process's standard output (LAPACK; a bug).
"""

from __future__ import annotations

import os
import signal
import tempfile
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st

import mixedfx as mfx
from mixedfx.errors import MixedfxError

BAD = ("fit", "error")


@dataclass
class Case:
    kind: str
    formula: str
    data: pd.DataFrame
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"Case({self.kind}, {self.formula!r}, kwargs={self.kwargs!r}, "
                f"data=\n{self.data.head(8)!r}\n... {len(self.data)} rows)")


# -- faults ---------------------------------------------------------------------------------
# About half the cases are clean (a model that should fit); the others carry one or two faults.
DATA_FAULTS = ["nan", "inf", "none_group", "dup_name", "dicts", "lists", "datetime",
               "tiny", "huge", "constant", "rows0", "rows1", "rows3", "one_level",
               "distinct", "collinear", "zeros_log", "categorical", "int_name"]
FORMULA_FAULTS = ["junk", "deep", "long", "object_term", "datetime_term", "odd_response",
                  "odd_bar"]
ARG_FAULTS = ["weights", "control", "start", "reml", "family", "nagq", "optimizer"]


@st.composite
def faults(draw: Any) -> set[str]:
    if draw(st.booleans()):
        return set()
    return set(draw(st.lists(st.sampled_from(DATA_FAULTS + FORMULA_FAULTS + ARG_FAULTS),
                             min_size=1, max_size=2)))


# -- data ----------------------------------------------------------------------------------
@st.composite
def frames(draw: Any, fl: set[str], ykind: str, sizes: tuple[int, ...] = (40, 30, 20, 60, 12)
           ) -> pd.DataFrame:
    n = draw(st.sampled_from(sizes))
    n = 0 if "rows0" in fl else 1 if "rows1" in fl else 3 if "rows3" in fl else n
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    scale = 1e-100 if "tiny" in fl else 1e100 if "huge" in fl else 1.0
    kg = 1 if "one_level" in fl else max(n, 1) if "distinct" in fl else \
        draw(st.sampled_from([5, 4, 6, 8]))
    g = rng.integers(0, kg, n)
    h = rng.integers(0, draw(st.sampled_from([2, 3])), n)
    kf = draw(st.sampled_from([2, 3]))
    labels = draw(st.sampled_from([["a", "b", "c"], ["ä", "β", "中 d"]]))
    f = np.array(labels[:kf])[rng.integers(0, kf, n)] if n else np.array([], dtype=str)
    x = rng.normal(0, 1, n)
    if "zeros_log" in fl:
        x = np.round(np.abs(x) * 3)
    x2 = 2 * x if "collinear" in fl else rng.normal(size=n)
    eta = 0.5 * x + rng.normal(0, 0.7, kg)[g]
    nn = rng.integers(1, 10, n).astype(float)
    if ykind == "binary":
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    elif ykind == "proportion":
        y = rng.binomial(nn.astype(int), 1 / (1 + np.exp(-eta))) / nn
    elif ykind == "count":
        y = rng.poisson(np.exp(1 + eta)).astype(float)
    elif ykind == "positive":
        y = rng.gamma(5.0, np.exp(eta) / 5.0)
    else:
        y = 10 + 2 * eta + rng.normal(0, 1, n)
    y = y * scale
    if "constant" in fl:
        y = np.full(n, 1.0)
    d = pd.DataFrame({"y": y, "x": x, "x2": x2, "f": f, "g": g.astype(str), "h": h,
                      "nn": nn, "b": rng.integers(0, 2, n).astype(bool)})
    d["o"] = [{"k": i} for i in range(n)] if "dicts" in fl else \
        [[i] for i in range(n)] if "lists" in fl else np.arange(n) % 3
    d["t"] = pd.Series(pd.date_range("2020-01-01", periods=n)) if "datetime" in fl \
        else np.arange(n, dtype=float)
    if n and fl & {"nan", "inf", "none_group"}:
        i = int(rng.integers(0, n))
        col = draw(st.sampled_from(["y", "x", "x2"]))
        if "nan" in fl:
            d.loc[i, col] = np.nan
        if "inf" in fl:
            d.loc[i, col] = draw(st.sampled_from([np.inf, -np.inf]))
        if "none_group" in fl:
            d["g"] = d["g"].astype(object)
            d.loc[i, "g"] = None
    if "categorical" in fl:
        d["g"] = pd.Categorical(d["g"], categories=sorted(set(d["g"].dropna()))[::-1])
    if "dup_name" in fl:
        d.columns = [*d.columns[:-1], "x"]
    if "int_name" in fl:
        d.columns = [*d.columns[:-1], 5]
    return d


# -- formulas -------------------------------------------------------------------------------
FIXED = ["x", "x2", "f", "x:f", "x*f", "I(x^2)", "poly(x, 2)", "b", "scale(x)", "exp(x)",
         "x/f", "(x + x2)^2", "offset(x)", "factor(h)", "x %in% f", "-1", "h", "log(x + 10)",
         "0"]
ODD_FIXED = ["log(x)", "I(1/x)", "o", "t", "sqrt(x)", "log(-x)"]
BARS = ["(1 | g)", "(x | g)", "(x || g)", "(1 | g/h)", "(1 | g:h)", "(0 + x | g)",
        "(f | g)", "(1 | f)", "(x + x2 | g)", "(1 | h)", "(1 | b)", "(1 | g) + (1 | h)",
        "(1 | g) + (0 + x | g)"]
ODD_BARS = ["(1 | o)", "(1 | t)", "(1|x)", "(log(x) | g)", "(1 | nn)", "(f*x | g)"]
JUNK = ["(", ")", "∑", "~", "+", "||", "|", "((((", "1e400", "`y`", "$", ";", "\n", "x)",
        "f(", "%%", "é"]
RESPONSES = {"normal": ["y", "y", "I(y*2 + 1)"], "count": ["y"], "binary": ["y", "b"],
             "proportion": ["cbind(y*nn, nn - y*nn)", "y"], "positive": ["y", "log(y)"]}
ODD_RESPONSES = ["f", "cbind(y, x)", "log(x)", "b", "g", "sqrt(y - 20)", "o", "t"]


@st.composite
def formulas(draw: Any, fl: set[str], ykind: str) -> str:
    lhs = draw(st.sampled_from(ODD_RESPONSES if "odd_response" in fl else RESPONSES[ykind]))
    fixed = draw(st.lists(st.sampled_from(FIXED), min_size=1, max_size=3))
    if fl & {"object_term", "datetime_term"}:
        fixed.append(draw(st.sampled_from(ODD_FIXED)))
    bars = draw(st.lists(st.sampled_from(ODD_BARS if "odd_bar" in fl else BARS),
                         min_size=1, max_size=2))
    rhs = " + ".join(fixed + bars)
    if "junk" in fl:
        junk = draw(st.sampled_from(JUNK))
        pos = draw(st.integers(0, len(rhs)))
        rhs = rhs[:pos] + junk + rhs[pos:]
    if "deep" in fl:
        depth = draw(st.sampled_from([50, 99, 150, 600]))
        rhs = "(" * depth + rhs + ")" * depth
    if "long" in fl:
        rhs = " + ".join(["x"] * draw(st.sampled_from([100, 399, 1000]))) + " + (1 | g)"
    return f"{lhs} ~ {rhs}"


# -- arguments ------------------------------------------------------------------------------
FAMILY_FOR = {"binary": ["binomial"], "proportion": ["binomial"], "count": ["poisson"],
              "positive": ["Gamma", "inverse_gaussian"], "normal": ["gaussian"]}
LINKS = ["logit", "probit", "cloglog", "cauchit", "log", "identity", "sqrt", "inverse",
         "1/mu^2", "bogus"]


@st.composite
def cases(draw: Any, kinds: tuple[str, ...] = ("lmer",) * 5 + ("glmer",) * 4 + ("glmer_nb",),
          sizes: tuple[int, ...] = (40, 30, 20, 60, 12)) -> Case:
    fl = draw(faults())
    kind = draw(st.sampled_from(kinds))
    ykind = "normal" if kind == "lmer" else "count" if kind == "glmer_nb" else \
        draw(st.sampled_from(["binary", "proportion", "count", "positive", "normal"]))
    if kind == "lmer" and draw(st.integers(0, 4)) == 0:
        ykind = draw(st.sampled_from(["count", "positive", "proportion"]))
    data = draw(frames(fl, ykind, sizes))
    formula = draw(formulas(fl, ykind))
    kw: dict[str, Any] = {}
    n = len(data)
    if "weights" in fl:
        wkind = draw(st.sampled_from(["ones", "random", "zero", "negative", "tiny", "length",
                                      "column", "nan", "huge"]))
        kw["weights"] = {"ones": np.ones(n), "random": np.linspace(0.5, 2, n),
                         "zero": np.r_[np.zeros(min(n, 1)), np.ones(max(n - 1, 0))],
                         "negative": -np.ones(n), "tiny": np.full(n, 1e-300),
                         "length": np.ones(n + 1), "column": "nn", "nan": np.full(n, np.nan),
                         "huge": np.full(n, 1e300)}[wkind]
    elif ykind == "proportion" and kind == "glmer" and not formula.startswith("cbind"):
        kw["weights"] = "nn"
    if "control" in fl:
        kw["control"] = draw(st.sampled_from([
            {"maxeval": 3}, {"optimizer": "nope"}, {"xtol_abs": -1.0}, {"calc_derivs": False},
            {"bogus": 1}, {"max_time": 0.01}, {"restart_edge": "yes"}]))
    if "optimizer" in fl:
        kw["control"] = {"optimizer": draw(st.sampled_from(["cobyla", "nelder_mead", "sbplx"]))}
    if "start" in fl and kind != "glmer_nb":
        kw["start"] = draw(st.sampled_from([[np.nan], [1.0], [0.5, 0.1, 0.5], [-1.0], "x",
                                            {"theta": [1.0]}, {"theta": [np.inf]}]))
    if kind == "lmer":
        if "reml" in fl:
            kw["REML"] = draw(st.sampled_from([False, "no", "FALSE", 0, None, np.bool_(True)]))
    elif kind == "glmer":
        fams = FAMILY_FOR[ykind]
        kw["family"] = draw(st.sampled_from(fams if "family" not in fl else
                                            ["binomial", "poisson", "Gamma", "inverse_gaussian",
                                             "gaussian", "bogus"]))
        if "family" in fl or draw(st.integers(0, 3)) == 0:
            kw["link"] = draw(st.sampled_from(LINKS))
        if "nagq" in fl:
            kw["nAGQ"] = draw(st.sampled_from([0, 3, -1, 1.5, 25]))
        elif draw(st.integers(0, 4)) == 0:
            kw["nAGQ"] = 0
    elif "family" in fl:
        kw["link"] = draw(st.sampled_from(["log", "sqrt", "identity", "logit"]))
    return Case(kind, formula, data, kw)


# -- running ---------------------------------------------------------------------------------
class CaseTimeout(BaseException):
    """The case ran past its time limit."""


def _alarm(signum: int, frame: Any) -> None:
    raise CaseTimeout()


def _from_mixedfx(exc: BaseException) -> bool:
    """Whether the exception was raised by mixedfx's own code (not numpy, scipy, pandas)."""
    tb = traceback.extract_tb(exc.__traceback__)
    return bool(tb) and f"{os.sep}mixedfx{os.sep}" in tb[-1].filename


def _finite_fit(m: Any) -> bool:
    values = [m.loglik, m.sigma, *np.ravel(m.beta), *np.ravel(m.theta)]
    return bool(np.all(np.isfinite(np.asarray(values, dtype=float))))


TIMERS = {"wall": (signal.ITIMER_REAL, signal.SIGALRM),
          "cpu": (signal.ITIMER_PROF, signal.SIGPROF)}


def run_case(case: Case, time_limit: float = 20.0, clock: str = "wall") -> tuple[str, str]:
    """Fit one case; returns (outcome, detail). `clock`: the time limit counts wall-clock
    seconds ("wall") or the process's CPU seconds ("cpu": a hang is then independent of how
    busy the machine is)."""
    fn = {"lmer": mfx.lmer, "glmer": mfx.glmer, "glmer_nb": mfx.glmer_nb}[case.kind]
    timer, signum = TIMERS[clock]
    old = signal.signal(signum, _alarm)
    out_fd = os.dup(1)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 1)
        try:
            signal.setitimer(timer, time_limit)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with np.errstate(all="ignore"):
                    m = fn(case.formula, case.data, **case.kwargs)
            result = ("fit", "") if _finite_fit(m) else \
                ("nonfinite", f"loglik={m.loglik} beta={m.beta} theta={m.theta}")
        except CaseTimeout:
            result = ("hang", f"> {time_limit} s ({clock})")
        except (ValueError, TypeError) as exc:
            msg = str(exc)
            if msg and (isinstance(exc, MixedfxError) or _from_mixedfx(exc)):
                result = ("error", f"{type(exc).__name__}: {msg.splitlines()[0]}")
            else:
                result = ("foreign", f"{type(exc).__name__}: {msg}\n"
                          + "".join(traceback.format_exception(exc)[-4:]))
        except Exception as exc:
            result = ("foreign", f"{type(exc).__name__}: {exc}\n"
                      + "".join(traceback.format_exception(exc)[-4:]))
        finally:
            signal.setitimer(timer, 0)
            signal.signal(signum, old)
            os.dup2(out_fd, 1)
            os.close(out_fd)
        tmp.seek(0)
        printed = tmp.read()
    if printed:
        return "stdout", printed.decode(errors="replace")[:300]
    return result


def main(argv: list[str]) -> None:
    """`python tests/fuzz/harness.py SEED CASES REPORT.json [TIME_LIMIT [wall|cpu]]`: run
    CASES cases without stopping at failures; REPORT gets the seed, the counts and every bad
    case (rewritten every 50 cases, so a partial run leaves its counts). The time limit is
    wall-clock seconds by default, process CPU seconds with "cpu" (for a busy machine)."""
    import json
    import sys
    import time

    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed

    seed_, n_cases, report = int(argv[0]), int(argv[1]), argv[2]
    limit = float(argv[3]) if len(argv) > 3 else 60.0
    clock = argv[4] if len(argv) > 4 else "wall"
    if clock not in TIMERS:
        raise SystemExit(f"clock must be 'wall' or 'cpu', got {clock!r}")
    counts: dict[str, int] = {}
    bad: list[dict[str, str]] = []
    slowest: list = [0.0, ""]
    t0 = time.time()

    def write() -> None:
        with open(report, "w") as fh:
            json.dump({"seed": seed_, "cases": sum(counts.values()), "counts": counts,
                       "time_limit_s": limit, "time_limit_clock": clock,
                       "slowest_case_s": round(slowest[0], 2), "slowest_case": slowest[1],
                       "elapsed_s": round(time.time() - t0, 1), "bad": bad}, fh, indent=1)

    @hseed(seed_)
    @settings(max_examples=n_cases, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=cases())
    def body(case: Case) -> None:
        t = time.time()
        outcome, detail = run_case(case, limit, clock)
        if time.time() - t > slowest[0]:
            slowest[:] = [time.time() - t, repr(case)]
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome not in BAD:
            bad.append({"outcome": outcome, "detail": detail, "case": repr(case)})
        if sum(counts.values()) % 50 == 0:
            write()

    body()
    write()
    print(json.dumps(counts), file=sys.stderr)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
