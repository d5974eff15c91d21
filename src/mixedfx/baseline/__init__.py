"""Fixed-effects baselines with the same formula engine and results API as the mixed models:
R's `lm` (least squares, `mixedfx.baseline.linear`) and `glm` (IRLS, `mixedfx.baseline.glm`),
with summaries laid out as `summary.lm` / `summary.glm` (`mixedfx.baseline.summary`)."""

from mixedfx.baseline.glm import GeneralizedLinearModel, glm
from mixedfx.baseline.linear import LinearModel, lm

__all__ = ["GeneralizedLinearModel", "LinearModel", "glm", "lm"]
