"""mixedfx: linear and generalized linear mixed-effects models with lme4's formulas and numbers.

    import mixedfx as mfx
    m = mfx.lmer("Reaction ~ Days + (Days | Subject)", data=mfx.datasets.load("sleepstudy"))
    print(m.summary())
"""

from mixedfx import datasets, families
from mixedfx.api import glmer, glmer_nb, lmer
from mixedfx.errors import (
    ConvergenceError,
    DataError,
    FitError,
    FormulaError,
    MixedfxError,
)
from mixedfx.inference.anova import anova
from mixedfx.optimize import Control
from mixedfx.optimize.convergence import ConvergenceWarning, SingularFitWarning
from mixedfx.results.persist import load_model as load

__version__ = "0.1.0"

__all__ = ["Control", "ConvergenceWarning", "SingularFitWarning", "__version__", "anova",
           "datasets", "families", "glmer", "glmer_nb", "lmer"]
__all__ += ["ConvergenceError", "DataError", "FitError", "FormulaError", "MixedfxError", "load"]
