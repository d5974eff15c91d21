"""mixedfx: linear and generalized linear mixed-effects models with lme4's formulas and numbers.

    import mixedfx as mfx
    m = mfx.lmer("Reaction ~ Days + (Days | Subject)", data=mfx.datasets.load("sleepstudy"))
    print(m.summary())
"""

from mixedfx import datasets, families
from mixedfx.api import glmer, glmer_nb, lmer
from mixedfx.baseline import glm, lm
from mixedfx.effects import effect, emmeans, pairs
from mixedfx.inference.anova import anova
from mixedfx.optimize import Control
from mixedfx.optimize.convergence import ConvergenceWarning, SingularFitWarning
from mixedfx.tidy import aic_table, compare_models

__version__ = "0.1.0"

__all__ = ["Control", "ConvergenceWarning", "SingularFitWarning", "__version__", "anova",
           "datasets", "families", "glmer", "glmer_nb", "lmer"]
__all__ += ["aic_table", "compare_models", "effect", "emmeans", "glm", "lm", "pairs", "plots"]


def __getattr__(name: str):
    """`mfx.plots` is imported on first use (it needs matplotlib)."""
    if name == "plots":
        import importlib

        return importlib.import_module("mixedfx.plots")
    raise AttributeError(f"module 'mixedfx' has no attribute {name!r}")
