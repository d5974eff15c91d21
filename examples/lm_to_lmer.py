"""From lm to lmer on the sleepstudy data: complete pooling, random intercepts and slopes,
Satterthwaite t tests, a likelihood-ratio test against the linear model, tidy frames and the
effect of Days. Run: PYTHONPATH=src python examples/lm_to_lmer.py

Lines of the form `name: value` are checked against R by tests/examples/test_examples.py.
"""

import mixedfx as mfx

sleep = mfx.datasets.load("sleepstudy")

# 1. complete pooling: one line for everybody (R: lm(Reaction ~ Days, sleepstudy))
pooled = mfx.lm("Reaction ~ Days", sleep)
print(pooled.summary())
print(f"lm slope: {pooled.fixef['Days']:.6f}")
print(f"lm slope SE: {pooled.summary().coefficients.loc['Days', 'Std. Error']:.6f}")
print(f"lm sigma: {pooled.sigma:.6f}")

# 2. partial pooling: random intercepts, then random slopes (lme4 + lmerTest)
m1 = mfx.lmer("Reaction ~ Days + (1 | Subject)", sleep)
m2 = mfx.lmer("Reaction ~ Days + (Days | Subject)", sleep)
print(m2.summary())
coefs = m2.summary().coefficients
print(f"lmer slope: {coefs.loc['Days', 'Estimate']:.6f}")
print(f"lmer slope SE: {coefs.loc['Days', 'Std. Error']:.6f}")
print(f"lmer slope df: {coefs.loc['Days', 'df']:.4f}")

# 3. is the random intercept needed? likelihood-ratio test against the linear model
lrt = mfx.anova(m1, pooled, model_names=["m1", "pooled"])
print(lrt)
print(f"LRT chisq: {lrt['Chisq'].iloc[1]:.5f}")

# 4. information criteria of the candidate models (ML fits)
table = mfx.aic_table(m1.refit_ml(), m2.refit_ml(), names=["intercepts", "slopes"])
print(table)
print(f"AIC slopes: {table.loc['slopes', 'AIC']:.5f}")

# 5. tidy frames (broom.mixed) and the data with fitted values and influence
print(m2.tidy(conf_int=True))
aug = m2.augment()
print(aug.head())
print(f"first cooksd: {aug['.cooksd'].iloc[0]:.8f}")

# 6. the effect of Days with a 95% band (effects::effect)
eff = mfx.effect(m2, "Days")
print(eff)
print(f"effect at Days=9: {eff['fit'].iloc[-1]:.5f} [{eff['lower'].iloc[-1]:.5f}, "
      f"{eff['upper'].iloc[-1]:.5f}]")
