"""Exploring a fitted model on the sleepstudy data: fixed effects, conditional modes with their
conditional SDs, the intraclass correlation and R² effect sizes, simulated group effects
(merTools' REsim), an exact restricted LRT of the random slope (RLRsim) and what-if
predictions across subjects.
Run: PYTHONPATH=src python examples/explore_fitted_model.py

Lines of the form `name: value` are checked against R by tests/examples/test_examples.py.
"""

import pandas as pd

import mixedfx as mfx

sleep = mfx.datasets.load("sleepstudy")
m = mfx.lmer("Reaction ~ Days + (Days | Subject)", sleep)

# 1. fixed effects (R: fixef(m))
print(m.fixef)
print(f"fixef: {m.fixef['(Intercept)']:.6f} {m.fixef['Days']:.6f}")

# 2. conditional modes and their conditional SDs (R: ranef(m, condVar = TRUE))
re = m.ranef(condvar=True)["Subject"]
sd = re.attrs["condsd"]
print(re.head())
print(f"ranef 308: {re.loc['308', '(Intercept)']:.6f} {re.loc['308', 'Days']:.6f}")
print(f"condsd 308: {sd.loc['308', '(Intercept)']:.6f} {sd.loc['308', 'Days']:.6f}")
print(f"intercept range: {re['(Intercept)'].min():.6f} {re['(Intercept)'].max():.6f}")

# 3. how much of the variation lies between subjects? (R: performance::icc(m))
icc = mfx.inference.icc(m)
print(f"ICC adjusted and conditional: {icc['ICC_adjusted']:.6f} {icc['ICC_conditional']:.6f}")

# 3b. effect sizes from the same variance decomposition: Nakagawa's marginal R² (fixed effects)
#     and conditional R² (fixed + random) (R: performance::r2_nakagawa(m))
total = icc["var_fixed"] + icc["var_random"] + icc["var_residual"]
r2_marginal = icc["var_fixed"] / total
r2_conditional = (icc["var_fixed"] + icc["var_random"]) / total
print(f"R2 marginal and conditional: {r2_marginal:.6f} {r2_conditional:.6f}")

# 4. simulated group effects (R: merTools::REsim(m)): mean, median and sd of the draws
sims = mfx.inference.re_sim(m, nsim=2000, seed=101)
print(sims.head())
s308 = sims[sims["groupID"] == "308"].set_index("term")
print(f"REsim 308 mean: {s308.loc['(Intercept)', 'mean']:.4f} {s308.loc['Days', 'mean']:.4f}")
print(f"REsim 308 sd: {s308.loc['(Intercept)', 'sd']:.4f} {s308.loc['Days', 'sd']:.4f}")

# 5. is the random slope needed? exact restricted LRT (R: RLRsim::exactRLRT(m, mA, m0))
full = mfx.lmer("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", sleep)
null = mfx.lmer("Reaction ~ Days + (1 | Subject)", sleep)
slope_only = mfx.lmer("Reaction ~ Days + (0 + Days | Subject)", sleep)
test = mfx.inference.exact_rlrt(slope_only, mA=full, m0=null, seed=1)
print(test)
print(f"RLRT: {test.statistic:.6f}")
print(f"RLRT p-value: {test.p_value:.4f}")

# 6. what if every subject had 5 days of sleep deprivation? (R: predict(m, newdata))
subjects = sleep["Subject"].cat.categories
whatif = pd.DataFrame({"Subject": subjects, "Days": 5})
whatif["predicted"] = m.predict(whatif)
whatif["population"] = m.predict(whatif, re_form="NA")
print(whatif.sort_values("predicted").to_string(index=False))
print(f"what-if 308: {whatif['predicted'].iloc[0]:.6f}")
print(f"what-if range: {whatif['predicted'].min():.6f} {whatif['predicted'].max():.6f}")
print(f"what-if population: {whatif['population'].iloc[0]:.6f}")
