"""Marginal effects and estimated marginal means of fitted models.

* `effect`   the effects package's `effect()`: predictions over a focal predictor's values with
             the other predictors held at typical values (`mixedfx.effects.effect`)
* `emmeans`, `pairs`  emmeans' estimated marginal means over a reference grid and their
             pairwise contrasts, with Kenward–Roger or Satterthwaite df for LMMs
             (`mixedfx.effects.emmeans`)
"""

from mixedfx.effects.effect import effect
from mixedfx.effects.emmeans import emmeans, pairs
from mixedfx.unknown_arguments import refuse_unknown_arguments_of

__all__ = ["effect", "emmeans", "pairs"]

refuse_unknown_arguments_of(globals(), __all__)       # unknown keywords: ArgumentTypeError
