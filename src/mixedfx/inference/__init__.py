"""Inference for fitted linear mixed models, as lmerTest, pbkrtest, lme4, RLRsim, arm, merTools
and performance provide it in R.

Modules (one concern each):

* `numderiv`       numDeriv's Richardson-extrapolated gradient, Jacobian and Hessian
* `satterthwaite`  lmerTest's Satterthwaite df: covariance of (θ, σ) and ∂vcov(β)/∂(θ, σ)
* `kenward_roger`  pbkrtest's adjusted covariance Φ_A and Kenward–Roger df
* `contest`        t and F tests of contrasts (lmerTest's contest1D / contestMD)
* `contrasts`      type I / III / marginal hypothesis matrices of the fixed-effects terms
* `fixed_anova`    anova(m) and drop1(m) F-test tables
* `anova`          likelihood-ratio tables: anova(m0, m1, ...), ranova, drop1(test="Chisq")
* `profile`        likelihood profiles and profile confidence intervals (with `splines`)
* `intervals`      confint dispatch (profile, Wald, boot)
* `bootstrap`      parametric bootstrap (bootMer) and bootstrap intervals
* `rlrsim`         exact (R)LRT for one variance component (exactRLRT / exactLRT)
* `posterior`      arm's sim, merTools' REsim / predictInterval
* `r2`             performance's variance decomposition: r2_nakagawa and icc

Tables print through `mixedfx.rformat` (R's printCoefmat / print.anova).
"""

from mixedfx.inference.anova import anova, drop1, ranova
from mixedfx.inference.bootstrap import BootResult, bootstrap
from mixedfx.inference.contrast_tests import coefficient_table, contest1d, contest_md
from mixedfx.inference.fixed_anova import anova_table
from mixedfx.inference.intervals import confint
from mixedfx.inference.kenward_roger import kenward_roger
from mixedfx.inference.posterior import predict_interval, re_sim, sim
from mixedfx.inference.profile import profile, profile_model
from mixedfx.inference.r2 import icc, r2, variance_parts
from mixedfx.inference.rlrsim import exact_lrt, exact_rlrt
from mixedfx.inference.satterthwaite import satterthwaite_state
from mixedfx.unknown_arguments import refuse_unknown_arguments_of

__all__ = ["BootResult", "anova", "anova_table", "bootstrap", "coefficient_table", "confint",
           "contest1d", "contest_md", "drop1", "exact_lrt", "exact_rlrt", "icc",
           "kenward_roger", "predict_interval", "profile", "profile_model", "r2", "ranova",
           "re_sim", "satterthwaite_state", "sim", "variance_parts"]

refuse_unknown_arguments_of(globals(), __all__)       # unknown keywords: ArgumentTypeError
