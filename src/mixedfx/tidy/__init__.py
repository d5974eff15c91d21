"""Tidy data frames of fitted models, as R's broom / broom.mixed give them.

* `tidy`       one row per estimated parameter (fixed effects, variance parameters,
               conditional modes): broom.mixed's `tidy.merMod`
* `glance`     one row of model-level statistics: `glance.merMod`
* `augment`    the model frame with fitted values, residuals and influence: `augment.merMod`
* `aic_table`  R's `AIC(m1, m2, ...)` / `BIC(...)` with Akaike weights
* `display`    arm's `display()`: the compact coefficient / error-term printout

Functions take a fitted model; the models' `tidy()`, `glance()` and `augment()` methods call
them (imported lazily).
"""

from mixedfx.tidy.aic import aic_table, compare_models
from mixedfx.tidy.augment import augment
from mixedfx.tidy.display import display
from mixedfx.tidy.frames import glance, tidy
from mixedfx.unknown_arguments import refuse_unknown_arguments_of

__all__ = ["aic_table", "augment", "compare_models", "display", "glance", "tidy"]

refuse_unknown_arguments_of(globals(), __all__)       # unknown keywords: ArgumentTypeError
