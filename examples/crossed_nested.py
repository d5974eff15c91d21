"""Crossed and nested random effects: Penicillin (plates crossed with samples) and Pastes
(casks nested in batches); a likelihood-ratio test of the nested term, AIC of the candidate
models and the variance-components tables as lme4 prints them.
Run: PYTHONPATH=src python examples/crossed_nested.py

Lines of the form `name: value` are checked against R by tests/examples/test_examples.py.
"""

import mixedfx as mfx

# 1. crossed: every sample was tested on every plate
pen = mfx.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mfx.datasets.load("Penicillin"))
print(pen.summary())
print(pen.varcorr_table(comp=("Variance", "Std.Dev.")))
print(f"Penicillin REML criterion: {pen.reml_criterion:.6f}")
print(f"Penicillin SDs: {' '.join(f'{v:.5f}' for v in pen.varcorr['sdcor'])}")

# 2. nested: casks within batches; (1 | batch/cask) is (1 | cask:batch) + (1 | batch)
pastes = mfx.datasets.load("Pastes")
p1 = mfx.lmer("strength ~ 1 + (1 | batch/cask)", pastes)
p0 = p1.update(". ~ 1 + (1 | batch)")
print(p1.summary())
lrt = mfx.anova(p0, p1, model_names=["p0", "p1"])          # refitted by ML, as lme4
print(lrt)
print(f"Pastes LRT chisq: {lrt['Chisq'].iloc[1]:.6f}")
aic = mfx.aic_table(p0, p1, names=["p0", "p1"])            # REML criteria, as R's AIC()
print(aic)
print(f"Pastes AIC: {aic['AIC'].iloc[0]:.6f} {aic['AIC'].iloc[1]:.6f}")

# 3. does the batch level matter once casks are in? cask:batch alone
p2 = p1.update(". ~ 1 + (1 | cask:batch)")
print(f"Pastes cask-only REML criterion: {p2.reml_criterion:.6f}")
print(p2.re_pca())
