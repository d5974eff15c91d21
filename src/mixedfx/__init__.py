"""mixedfx: linear and generalized linear mixed-effects models with lme4's formulas and numbers.

    import mixedfx as mfx
    m = mfx.lmer("Reaction ~ Days + (Days | Subject)", data=mfx.datasets.load("sleepstudy"))
    print(m.summary())
"""

from mixedfx import datasets, diagnostics, families, plots
from mixedfx.api import glmer, glmer_nb, gls, lmer
from mixedfx.inference.anova import anova
from mixedfx.optimize import Control
from mixedfx.optimize.convergence import ConvergenceWarning, SingularFitWarning
from mixedfx.residual import (
    cor_ar1,
    cor_car1,
    cor_comp_symm,
    cor_symm,
    var_exp,
    var_ident,
    var_power,
)

__version__ = "0.1.0"

__all__ = ["Control", "ConvergenceWarning", "SingularFitWarning", "__version__", "anova",
           "cor_ar1", "cor_car1", "cor_comp_symm", "cor_symm", "datasets", "diagnostics",
           "families", "glmer", "glmer_nb", "gls", "lmer", "plots", "var_exp", "var_ident",
           "var_power"]
