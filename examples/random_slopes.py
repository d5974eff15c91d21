"""Random slopes on simulated data (the biomass tutorial: `set.seed(10)` simulation of 20
sites with site-specific intercepts and temperature slopes): the fit, diagnostics, the three
kinds of confidence intervals (Wald, profile, parametric bootstrap) and prediction bands.
Run: python examples/random_slopes.py (with mixedfx installed)

Lines of the form `name: value` are checked against R by tests/examples/test_examples.py.
"""

import numpy as np
import pandas as pd

import mixedfx as mfx

data = mfx.datasets.load("biomass_sim")          # mfx.datasets.describe("biomass_sim")

m = mfx.lmer("Biomass ~ Temp + N + (1 + Temp | Site)", data)
print(m.summary())
print(f"REML criterion: {m.reml_criterion:.6f}")
print(f"fixed effects: {' '.join(f'{v:.6f}' for v in m.fixef)}")
print(f"variance components: {' '.join(f'{v:.6f}' for v in m.varcorr['vcov'])}")

# diagnostics: leverage and influence of each observation, and the random effects
hat, cook = m.hatvalues(), m.cooks_distance()
print(f"largest leverage: {hat.max():.4f} (row {int(hat.argmax())})")
print(f"largest Cook's distance: {cook.max():.4f} (row {int(cook.argmax())})")
re = m.ranef(condvar=True)["Site"]
print(re.head())

# three kinds of confidence intervals
wald = m.confint(method="Wald").dropna()
print(wald)
print(f"Wald lower: {' '.join(f'{v:.6f}' for v in wald['lower'])}")
print(f"Wald upper: {' '.join(f'{v:.6f}' for v in wald['upper'])}")
prof = m.confint()
print(prof)
print(f"profile lower: {' '.join(f'{v:.6f}' for v in prof['lower'])}")
print(f"profile upper: {' '.join(f'{v:.6f}' for v in prof['upper'])}")
boot = m.confint(method="boot", nsim=200, seed=10)
print(boot)
print(f"bootstrap Temp interval: {boot.loc['Temp', 'lower']:.4f} {boot.loc['Temp', 'upper']:.4f}")

# prediction bands over temperature for an average site (N at its mean): the Wald band of
# the fixed part, and merTools-style simulated bands that add the site and residual variation
grid = pd.DataFrame({"Temp": np.linspace(data["Temp"].min(), data["Temp"].max(), 5),
                     "N": data["N"].mean(), "Site": "new"})
band = m.predict(grid, re_form="NA", se_fit=True, interval="confidence")
print(pd.concat([grid[["Temp"]], band], axis=1))
sims = mfx.inference.predict_interval(m, grid, level=0.95, nsim=1000, seed=10)
print(sims)
