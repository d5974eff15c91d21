# Reference values for restarting singular GLMM fits (issue 18): two simulated data sets
# (all true variance components zero; binomial_6.csv, poisson_23.csv, written by mixedfx's
# tests from numpy seeds 6 and 23) where BOBYQA without restarts stops at a false boundary.
# lme4's glmer does not restart (optimizeGlmer has no restart_edge); its fits with each
# nloptwrap optimizer (allFit) and from an interior start give the true optimum.
# Run: Rscript make_glmm_restart.R  (writes glmm_restart.json beside this script)
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
one <- function(file, family) {
  d <- read.csv(file)
  d$g <- factor(d$g); d$h <- factor(d$h)
  f <- y ~ x + (x | g) + (1 | h)
  fit <- function(...) glmer(f, d, family = family, ...)
  info <- function(m) list(deviance = deviance(m), loglik = as.numeric(logLik(m)),
                           theta = unname(getME(m, "theta")), fixef = unname(fixef(m)),
                           singular = isSingular(m))
  default <- fit()
  bobyqa <- fit(control = glmerControl(optimizer = "bobyqa"))
  interior <- fit(start = list(theta = c(0.1, 0, 0.1, 0.1)),
                  control = glmerControl(optimizer = "bobyqa"))
  meth <- cbind(optimizer = "nloptwrap",
                method = c("NLOPT_LN_BOBYQA", "NLOPT_LN_NELDERMEAD", "NLOPT_LN_COBYLA",
                           "NLOPT_LN_SBPLX"))
  af <- allFit(default, meth.tab = meth, verbose = FALSE)
  s <- summary(af)
  all <- list(default = info(default), bobyqa = info(bobyqa), interior = info(interior))
  # compared by -2 log-likelihood (glmer's deviance() of a Poisson fit is another quantity)
  dev <- c(-2 * sapply(all, `[[`, "loglik"), -2 * s$llik)
  best <- which.min(dev)
  thetas <- rbind(t(sapply(all, `[[`, "theta")), s$theta)
  fixefs <- rbind(t(sapply(all, `[[`, "fixef")), s$fixef)
  c(all, list(allfit = list(optimizers = names(af), neg2loglik = unname(-2 * s$llik),
                            theta = unname(s$theta)),
              best = list(fit = names(dev)[best], neg2loglik = unname(dev[best]),
                          theta = unname(thetas[best, ]), fixef = unname(fixefs[best, ])),
              lme4 = as.character(packageVersion("lme4"))))
}
# glmer_nb's underdispersed slopes case (../nb_underdispersed_slopes_30.csv; lme4's fit in
# ../nb_underdispersed.json ends with T11 = 0 and the column below it of one sign): at lme4's
# theta-hat, glmer from a start with the other sign of that column reaches a higher optimum
nb_slopes <- function() {
  d <- read.csv("../nb_underdispersed_slopes_30.csv")
  d$g <- factor(d$g)
  th <- 237827.501944203                                  # lme4's glmer.nb theta-hat
  fam <- MASS::negative.binomial(theta = th)
  f <- y ~ x + x2 + (x + x2 | g)
  info <- function(m) list(loglik = as.numeric(logLik(m)), theta = unname(getME(m, "theta")),
                           fixef = unname(fixef(m)))
  list(nb_theta = th, default = info(glmer(f, d, family = fam)),
       signed_start = info(glmer(f, d, family = fam,
                                 start = list(theta = c(0.1, -0.3, -0.3, 0.01, 0.01, 0.01)))))
}
out <- list(binomial_6 = one("binomial_6.csv", binomial),
            poisson_23 = one("poisson_23.csv", poisson),
            nb_slopes = nb_slopes())
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "glmm_restart.json")
