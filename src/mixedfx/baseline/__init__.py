"""Fixed-effects baselines with the same formula engine and results API as the mixed models:
R's `lm` (least squares, `mixedfx.baseline.linear`) and `glm` (IRLS, `mixedfx.baseline.glm`),
with summaries laid out as `summary.lm` / `summary.glm` (`mixedfx.baseline.summary`), their
sequential anova tables (`mixedfx.baseline.anova`) and `aov` with Error() strata
(`mixedfx.baseline.aov`)."""

from mixedfx.baseline.aov import AovStrata, aov
from mixedfx.baseline.glm import GeneralizedLinearModel, glm
from mixedfx.baseline.linear import LinearModel, lm

__all__ = ["AovStrata", "GeneralizedLinearModel", "LinearModel", "aov", "glm", "lm"]
