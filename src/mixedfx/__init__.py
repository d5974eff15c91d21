"""mixedfx: linear and generalized linear mixed-effects models with lme4's formulas and numbers.

    import mixedfx as mfx
    m = mfx.lmer("Reaction ~ Days + (Days | Subject)", data=mfx.datasets.load("sleepstudy"))
    print(m.summary())
"""

from mixedfx import datasets, diagnostics, families, plots
from mixedfx.api import glmer, glmer_nb, gls, lmer, mmrm
from mixedfx.baseline import aov, glm, lm
from mixedfx.effects import effect, emmeans, pairs
from mixedfx.errors import (
    ConvergenceError,
    DataError,
    FitError,
    FormulaError,
    MixedfxError,
)
from mixedfx.inference.anova import anova
from mixedfx.loading import load_model as load
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
from mixedfx.tidy import aic_table, compare_models, display
from mixedfx.unknown_arguments import refuse_unknown_arguments_of
from mixedfx.version import __version__

__all__ = [
    "Control",
    "ConvergenceError",
    "ConvergenceWarning",
    "DataError",
    "FitError",
    "FormulaError",
    "MixedfxError",
    "SingularFitWarning",
    "__version__",
    "aic_table",
    "anova",
    "aov",
    "compare_models",
    "cor_ar1",
    "cor_car1",
    "cor_comp_symm",
    "cor_symm",
    "datasets",
    "diagnostics",
    "display",
    "effect",
    "emmeans",
    "families",
    "glm",
    "glmer",
    "glmer_nb",
    "gls",
    "lm",
    "lmer",
    "load",
    "mmrm",
    "pairs",
    "plots",
    "var_exp",
    "var_ident",
    "var_power",
]

refuse_unknown_arguments_of(globals(), __all__)       # unknown keywords: ArgumentTypeError
