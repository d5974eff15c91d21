"""Print the bits of a few GLMM fits, for CI's comparison of the PIRLS kernel's builds.

The PIRLS kernel (`_native/pirls.c`) compiles its hot row loops twice (`HOT_CLONES`: an AVX2
clone and the x86-64 baseline) and picks one by the CPU at load time. Both must give the same
bits, or a fit would differ between machines. CI runs this script once with the installed
package (on an AVX2 machine: the AVX2 clones) and once with the kernel rebuilt with
`-DMIXEDFX_NO_CLONES` (the baseline code only) and compares the two outputs line by line.

Each line: a model's name, then θ, β, the deviance and Σμ as float.hex, which show every bit.
The models cover the kernel's row paths: binomial with trials (cbind), binary logit with two
crossed terms, Poisson (log link), probit (a non-canonical link) and a vector-valued term.
"""

from __future__ import annotations

import warnings

import numpy as np

import mixedfx
from mixedfx import datasets


def _hex(values: object) -> str:
    return " ".join(float(v).hex() for v in np.ravel(np.asarray(values, dtype=float)))


def main() -> None:
    warnings.simplefilter("ignore")          # singular / convergence warnings: not compared
    cbpp = datasets.load("cbpp")
    verbagg = datasets.load("VerbAgg")
    grouse = datasets.load("grouseticks")
    sleep = datasets.load("sleepstudy").assign(
        slow=lambda d: (d["Reaction"] > d["Reaction"].median()).astype(float))
    fits = {
        "cbpp binomial cbind": mixedfx.glmer(
            "cbind(incidence, size - incidence) ~ period + (1 | herd)", data=cbpp,
            family="binomial"),
        "VerbAgg logit crossed": mixedfx.glmer(
            "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", data=verbagg,
            family="binomial"),
        "grouseticks poisson": mixedfx.glmer(
            "TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)", data=grouse, family="poisson"),
        "cbpp probit": mixedfx.glmer(
            "cbind(incidence, size - incidence) ~ period + (1 | herd)", data=cbpp,
            family=mixedfx.families.binomial("probit")),
        "sleepstudy logit slopes": mixedfx.glmer(
            "slow ~ Days + (Days | Subject)", data=sleep, family="binomial"),
    }
    for name, m in fits.items():
        mu = np.asarray(m.fitted(), dtype=float)
        print(f"{name}: theta {_hex(m.theta)} | beta {_hex(m.fixef)} | "
              f"deviance {_hex(m.deviance)} | sum mu {_hex(mu.sum())}")


if __name__ == "__main__":
    main()
