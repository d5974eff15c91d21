"""Residual variance functions and correlation structures (nlme's varIdent, corAR1, corSymm)
on the gpa data of the tutorial: one residual SD per occasion, autocorrelated residuals, their
comparison by AIC (ML fits), and the MMRM of clinical trials as a gls.
Run: python examples/residual_structures.py (with mixedfx installed)

Lines of the form `name: value` are checked against nlme by tests/examples/test_examples.py.
"""

import mixedfx as mfx

gpa = mfx.datasets.load("gpa")                    # Mixed Models with R's gpa data

# one residual variance per occasion (nlme: weights = varIdent(form = ~1 | occasion))
vi = mfx.lmer("gpa ~ occasion + (1 | student)", gpa, weights=mfx.var_ident("~ 1 | occasion"))
print(vi.summary())
variances = vi.var_struct.stratum_variances()
print(f"varIdent variances: {' '.join(f'{v:.6f}' for v in variances)}")

# AR(1) residuals within students (nlme: correlation = corAR1(form = ~occasion))
ar = mfx.lmer("gpa ~ occasion + (1 | student)", gpa, correlation=mfx.cor_ar1("~ occasion"))
print(ar.summary())
print(f"AR1 Phi: {ar.cor_struct.params['Phi']:.6f}")
print(f"logLik: {vi.loglik:.6f} {ar.loglik:.6f}")

# which structure? ML fits compared by AIC (nlme: anova / AIC of method = "ML" fits)
plain = mfx.lmer("gpa ~ occasion + (1 | student)", gpa, REML=False)
table = mfx.aic_table(plain, vi.refit_ml(), ar.refit_ml(), names=["iid", "varIdent", "AR1"])
print(table)
print(f"ML AIC varIdent AR1: {table['AIC'].iloc[1]:.6f} {table['AIC'].iloc[2]:.6f}")
print(mfx.anova(plain, ar))

# the MMRM: unstructured correlation over visits and one SD per visit, no random effects
ortho = mfx.datasets.load("Orthodont")
ortho["visit"] = ortho["age"].rank(method="dense").astype(int)
mmrm = mfx.gls("distance ~ age * Sex", ortho, correlation=mfx.cor_symm("~ visit | Subject"),
               weights=mfx.var_ident("~ 1 | visit"))
print(mmrm.summary())
print(mmrm.cor_struct.matrix().round(3))
print(f"MMRM logLik: {mmrm.loglik:.6f}")
