# Extra lme4 glmer reference fits (R 4.2.2, lme4 1.1-31). Run: Rscript make_extra_glmer.R
# Writes extra_glmer.json and the simulated data set gamma_sim.csv.
suppressMessages({library(lme4); library(jsonlite)})
set.seed(20261122)
ng <- 30; per <- 8
gs <- data.frame(g = factor(rep(sprintf("g%02d", 1:ng), each = per)), x = rep(seq(0, 1, length = per), ng))
b <- rnorm(ng, 0, 0.4)
gs$y <- rgamma(nrow(gs), shape = 4, scale = exp(1 + 0.8 * gs$x + b[as.integer(gs$g)]) / 4)
write.csv(gs, "gamma_sim.csv", row.names = FALSE)
rec <- function(id, formula, m, family, link, nAGQ = 1, data_note = "none") {
  vc <- as.data.frame(VarCorr(m))
  list(id = id, formula = formula, family = family, link = link, nAGQ = nAGQ, data_note = data_note,
       nobs = nobs(m), loglik = as.numeric(logLik(m)), aic = AIC(m), deviance = deviance(m),
       fixef = as.list(fixef(m)), fixef_se = as.list(sqrt(diag(as.matrix(vcov(m))))),
       theta = unname(getME(m, "theta")), sigma = sigma(m),
       sdcor = vc$sdcor, fitted_head = unname(head(fitted(m), 8)))
}
out <- list()
cb <- cbpp
f1 <- "incidence ~ period + offset(log(size)) + (1 | herd)"
out[[length(out)+1]] <- rec("poisson_offset", f1, glmer(as.formula(f1), cb, family = poisson), "poisson", "log")
f2 <- "cbind(incidence, size - incidence) ~ period + (1 | herd)"
out[[length(out)+1]] <- rec("binomial_probit", f2, glmer(as.formula(f2), cb, family = binomial(link = "probit")), "binomial", "probit")
out[[length(out)+1]] <- rec("binomial_cloglog", f2, glmer(as.formula(f2), cb, family = binomial(link = "cloglog")), "binomial", "cloglog")
out[[length(out)+1]] <- rec("binomial_nagq0", f2, glmer(as.formula(f2), cb, family = binomial, nAGQ = 0), "binomial", "logit", nAGQ = 0)
f3 <- "y ~ x + (1 | g)"
out[[length(out)+1]] <- rec("gamma_log", f3, glmer(as.formula(f3), gs, family = Gamma(link = "log")), "Gamma", "log", data_note = "gamma_sim.csv")
out[[length(out)+1]] <- rec("gamma_inverse", f3, glmer(as.formula(f3), gs, family = Gamma()), "Gamma", "inverse", data_note = "gamma_sim.csv")
va <- VerbAgg; va$r2 <- as.integer(va$r2 == "Y")
f4 <- "r2 ~ Anger + situ + (1 + situ | id)"
out[[length(out)+1]] <- rec("binary_random_slope", f4, glmer(as.formula(f4), va, family = binomial), "binomial", "logit")
gt <- grouseticks
f5 <- "TICKS ~ YEAR + cHEIGHT + (1 | LOCATION)"
mnb <- glmer.nb(as.formula(f5), gt)
r <- rec("negbin", f5, mnb, "negative.binomial", "log")
r$nb_theta <- getME(mnb, "glmer.nb.theta")
out[[length(out)+1]] <- r
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", pretty = TRUE), "extra_glmer.json")
