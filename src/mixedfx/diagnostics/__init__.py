"""Model diagnostics: the quantities behind the diagnostic plots, as lme4 and performance
compute them.

Modules (one concern each):

* `leverage`     hat values (lme4's `hatvalues.merMod`) and Cook's distances
                 (`cooks.distance.merMod`)
* `influence`    leave-one-group-out refits (lme4's `influence.merMod`), dfbeta, dfbetas and
                 the group-deletion Cook's distance
* `collinearity` variance inflation factors of the fixed-effects terms
                 (performance's `check_collinearity`)
* `prediction`   Wald standard errors and intervals of predictions (link and response scale)
* `smooth`       R's `lowess` smoother, used by the residual plots
* `binned`       arm's binned residuals for binomial models
"""

from mixedfx.diagnostics.binned import binned_resids, performance_binned_residuals
from mixedfx.diagnostics.collinearity import vif
from mixedfx.diagnostics.influence import Influence, influence
from mixedfx.diagnostics.leverage import (
    cooks_distance,
    hatvalues,
    leverage,
    standardized_residuals,
)
from mixedfx.diagnostics.prediction import predict_se
from mixedfx.diagnostics.smooth import lowess
from mixedfx.unknown_arguments import refuse_unknown_arguments_of

__all__ = ["Influence", "binned_resids", "cooks_distance", "hatvalues", "influence", "leverage",
           "lowess", "performance_binned_residuals", "predict_se", "standardized_residuals",
           "vif"]

refuse_unknown_arguments_of(globals(), __all__)       # unknown keywords: ArgumentTypeError
