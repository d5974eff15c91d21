"""A binomial GLMM on the cbpp data: the complete-pooling glm first, then the herd random
intercept, odds ratios, the latent-scale ICC, marginal probabilities per period and their
pairwise contrasts, and simulation-based prediction intervals.
Run: PYTHONPATH=src python examples/glmm_cbpp.py

Lines of the form `name: value` are checked against R by tests/examples/test_examples.py.
"""

import mixedfx as mfx
from mixedfx import inference

cbpp = mfx.datasets.load("cbpp")
formula = "cbind(incidence, size - incidence) ~ period"

# 1. complete pooling (R: glm(..., family = binomial))
pooled = mfx.glm(formula, cbpp, family="binomial")
print(pooled.summary())
print(f"glm AIC: {pooled.aic:.4f}")

# 2. herds differ: a random intercept per herd (lme4's glmer, Laplace)
g = mfx.glmer(formula + " + (1 | herd)", cbpp, family="binomial")
print(g.summary(correlation=False))
print(f"glmer AIC: {g.aic:.4f}")
print(mfx.aic_table(pooled, g, names=["glm", "glmer"]))

# 3. odds ratios with Wald intervals (broom.mixed's exponentiate = TRUE)
odds = g.tidy(effects="fixed", conf_int=True, exponentiate=True)
print(odds)
print(f"odds ratio period2: {odds['estimate'].iloc[1]:.6f}")

# 4. how much of the latent variation lies between herds (performance::icc)
icc = inference.icc(g)
print(f"ICC adjusted: {icc['ICC_adjusted']:.6f}")

# 5. marginal probabilities per period and Tukey-adjusted pairwise contrasts (emmeans)
print(mfx.emmeans(g, "period", type="response"))
print(mfx.pairs(g, "period"))

# 6. prediction intervals on the probability scale (merTools' predictInterval)
print(inference.predict_interval(g, nsim=500, seed=1, type="probability").head())
