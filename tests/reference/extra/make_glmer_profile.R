# Profile confidence intervals of glmer fits (R 4.2.2, lme4 1.1-31), for
# tests/inference/test_inference_glmm_profile.py. Run: Rscript make_glmer_profile.R
# Writes glmer_profile.json: per case the formula, family, lme4's fit (logLik, theta, fixef)
# and confint(m, method = "profile", oldNames = FALSE) at 95 % and 90 % (one profile), and the
# Wald intervals. Cases: cbpp binomial (Laplace and nAGQ = 25), grouseticks Poisson.
suppressMessages({library(lme4); library(jsonlite)})
ci_rec <- function(ci) list(names = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]))
rec <- function(id, data, formula, family, m) {
  pr <- profile(m, signames = FALSE)
  list(id = id, data = data, formula = formula, family = family, nAGQ = m@devcomp$dims[["nAGQ"]],
       loglik = as.numeric(logLik(m)), theta = unname(getME(m, "theta")),
       fixef = as.list(fixef(m)),
       confint_profile = ci_rec(confint(pr, level = 0.95)),
       confint_profile_90 = ci_rec(confint(pr, level = 0.90)),
       confint_wald = ci_rec(confint(m, method = "Wald", oldNames = FALSE)))
}
out <- list()
f1 <- "cbind(incidence, size - incidence) ~ period + (1 | herd)"
out[[length(out) + 1]] <- rec("cbpp_binomial", "cbpp", f1, "binomial",
                              glmer(as.formula(f1), cbpp, family = binomial))
out[[length(out) + 1]] <- rec("cbpp_binomial_agq25", "cbpp", f1, "binomial",
                              glmer(as.formula(f1), cbpp, family = binomial, nAGQ = 25))
f2 <- "TICKS ~ YEAR + (1 | BROOD)"
out[[length(out) + 1]] <- rec("grouseticks_poisson", "grouseticks", f2, "poisson",
                              glmer(as.formula(f2), grouseticks, family = poisson))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = TRUE),
           "glmer_profile.json")
