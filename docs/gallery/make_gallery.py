"""Regenerate the plot gallery: one PNG per plot of mixedfx.plots on bundled data sets.

Run from the repository root:  python docs/gallery/make_gallery.py  (needs mixedfx[plot]).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import mixedfx as mfx  # noqa: E402
from mixedfx import plots  # noqa: E402

OUT = Path(__file__).resolve().parent


def main(only: list[str] | None = None) -> None:
    warnings.simplefilter("ignore")
    sleep = mfx.datasets.load("sleepstudy")
    m = mfx.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    cbpp = mfx.datasets.load("cbpp")
    g = mfx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                  family="binomial")
    ie = mfx.datasets.load("InstEval")
    ie_m = None
    orth = mfx.lmer("distance ~ age + Sex + (1 | Subject)", mfx.datasets.load("Orthodont"))
    dye = mfx.lmer("Yield ~ 1 + (1 | Batch)", mfx.datasets.load("Dyestuff"))
    jobs = {
        "caterpillar_sleepstudy": lambda: m.plot_ranef(),
        "caterpillar_insteval": lambda: plots.caterpillar(_insteval(ie, ie_m), groups="d"),
        "qq_ranef_sleepstudy": lambda: plots.qq_ranef(m),
        "re_sim_sleepstudy": lambda: plots.re_sim(m, nsim=500, seed=1),
        "residuals_fitted_sleepstudy": lambda: m.plot(),
        "scale_location_sleepstudy": lambda: plots.scale_location(m),
        "qq_residuals_sleepstudy": lambda: plots.qq_residuals(m),
        "residuals_by_subject": lambda: plots.residuals_by(m, "Subject"),
        "diagnostics_sleepstudy": lambda: plots.diagnostics(m),
        "check_model_sleepstudy": lambda: plots.check_model(m),
        "check_model_cbpp": lambda: plots.check_model(g),
        "binned_residuals_cbpp": lambda: plots.binned_residuals(g),
        "residuals_fitted_cbpp": lambda: g.plot(),
        "shrinkage_sleepstudy": lambda: plots.shrinkage(m),
        "shrinkage_orthodont": lambda: plots.shrinkage(orth),
        "shrinkage_cbpp": lambda: plots.shrinkage(g),
        "profile_dyestuff": lambda: plots.profile(dye),
        "bootstrap_dyestuff": lambda: plots.bootstrap(dye.bootstrap(nsim=300, seed=1)),
    }
    import matplotlib.pyplot as plt

    for name, make in jobs.items():
        if only and name not in only:
            continue
        fig = make()
        fig.savefig(OUT / f"{name}.png", dpi=90)
        plt.close(fig)
        print(f"wrote {name}.png")


def _insteval(ie, cached):
    if cached is not None:
        return cached
    return mfx.lmer("y ~ service + (1 | s) + (1 | d) + (1 | dept:service)", ie, REML=False)


if __name__ == "__main__":
    main(sys.argv[1:] or None)
