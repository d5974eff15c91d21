"""Plots of fitted mixed models (matplotlib, the optional `plot` extra: pip install
mixedfx[plot]). matplotlib is imported when a plot is drawn, never by `import mixedfx`; without
it every plot raises `PlotDependencyError`, an ImportError saying what to install. Every plot
returns a matplotlib Figure.

* `caterpillar` (`m.plot_ranef()`), `qq_ranef`, `re_sim`          random effects (`ranef`)
* `residuals_fitted` (`m.plot()`), `scale_location`, `qq_residuals`, `residuals_by`,
  `diagnostics`, `binned_residuals`                              residuals (`residuals`)
* `check_model`                                                  performance's check_model
* `shrinkage`                                                    pooling (`shrinkage`)
* `profile`, `bootstrap`                                         inference results (`inference`)
* `effect`                                                       effects::effect with a ribbon
"""

from mixedfx.plots._mpl import PlotDependencyError
from mixedfx.plots.check import check_model
from mixedfx.plots.effects import effect
from mixedfx.plots.inference import bootstrap, profile
from mixedfx.plots.ranef import caterpillar, qq_ranef, re_sim
from mixedfx.plots.residuals import (
    binned_residuals,
    diagnostics,
    qq_residuals,
    residuals_by,
    residuals_fitted,
    scale_location,
)
from mixedfx.plots.shrinkage import pooling_estimates, shrinkage
from mixedfx.unknown_arguments import refuse_unknown_arguments_of

__all__ = ["PlotDependencyError", "binned_residuals", "bootstrap", "caterpillar",
           "check_model", "diagnostics", "effect", "pooling_estimates", "profile", "qq_ranef",
           "qq_residuals", "re_sim", "residuals_by", "residuals_fitted", "scale_location",
           "shrinkage"]

refuse_unknown_arguments_of(globals(), __all__)       # unknown keywords: ArgumentTypeError
