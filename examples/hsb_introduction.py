"""The High School and Beyond introduction: mathematics achievement of 7185 students in 160
schools. The null (variance components) model, REML against ML, the intraclass correlation, a
parametric-bootstrap confidence interval and the shrinkage of school means.
Run: PYTHONPATH=src python examples/hsb_introduction.py

Lines of the form `name: value` are checked against R by tests/examples/test_examples.py.
"""

import numpy as np

import mixedfx as mfx

hsb = mfx.datasets.load("hsb")

# 1. the null model: a grand mean and a random intercept per school
#    (R: lmer(mathach ~ 1 + (1 | school), hsb))
m = mfx.lmer("mathach ~ 1 + (1 | school)", hsb)
print(m.summary())
print(m.varcorr)
tau2, sigma2 = m.varcorr["vcov"].to_numpy()


def line(fit, crit):
    return (f"{fit.fixef['(Intercept)']:.6f} {fit.varcorr['vcov'].iloc[0]:.6f} "
            f"{fit.varcorr['vcov'].iloc[1]:.6f} {crit:.4f}")


# 2. REML against ML: the variance estimates differ, the mean barely moves
#    (R: update(m, REML = FALSE))
ml = m.refit_ml()
print(f"REML fit: {line(m, m.reml_criterion)}")
print(f"ML fit: {line(ml, ml.deviance)}")
se_reml, se_ml = np.sqrt(m.vcov.iloc[0, 0]), np.sqrt(ml.vcov.iloc[0, 0])
print(f"intercept SE REML and ML: {se_reml:.6f} {se_ml:.6f}")

# 3. the share of variance between schools (R: performance::icc(m))
icc = mfx.inference.icc(m)
print(f"ICC: {icc['ICC_adjusted']:.6f} (by hand: {tau2 / (tau2 + sigma2):.6f})")

# 4. a parametric-bootstrap interval (R: confint(m, method = "boot", nsim = , seed = )):
#    few simulations here to keep the script fast; use 1000 or more in practice
boot = m.confint(method="boot", nsim=100, seed=2024)
print(boot)
lo, hi = boot.loc["(Intercept)"]
print(f"bootstrap CI of the mean: {lo:.4f} {hi:.4f}")

# 5. shrinkage: each school's conditional mean is pulled towards the grand mean by the
#    factor lambda_j = tau^2 / (tau^2 + sigma^2 / n_j); small schools are pulled most
schools = hsb.groupby("school", observed=True)["mathach"].agg(["size", "mean"])
schools["conditional"] = m.coef()["school"]["(Intercept)"].reindex(schools.index.astype(str))
schools["lambda"] = tau2 / (tau2 + sigma2 / schools["size"])
grand = m.fixef["(Intercept)"]
gap = (schools["conditional"] - grand) - schools["lambda"] * (schools["mean"] - grand)
print(f"largest deviation from b_j = lambda_j (ybar_j - mu): {np.abs(gap).max():.2e}")
small = schools.loc[schools["size"].idxmin()]
print(schools.sort_values("size").head())
print(f"smallest school: {small['size']:.1f} {small['mean']:.6f} {small['conditional']:.6f} "
      f"{small['lambda']:.6f}")
print(f"lambda range: {schools['lambda'].min():.6f} {schools['lambda'].max():.6f}")
print(f"SD of raw and conditional means: {schools['mean'].std():.6f} "
      f"{schools['conditional'].std():.6f}")
