# Reference values for restarting singular fits of LMMs with nlme residual structures
# (issue 18): ar1_13.csv (30 groups x 10 times, AR(1) errors with phi = 0.3, no random
# slope variance; simulated by mixedfx's tests with numpy seed 13). nlme's lme does not
# restart, but it optimizes the log-Cholesky parameters of the random effects, which have no
# boundary; its REML log-likelihood gives the optimum that mixedfx's BOBYQA without restarts
# misses (it stops with the intercept SD at 0 and the wrong sign of the covariance). From
# its default start nlme stops near that point too; started with the covariance's other
# sign (correlation -0.9) it reaches the higher optimum, close to a correlation of -1.
# Run: Rscript make_structured_restart.R  (writes structured_restart.json beside this script)
suppressPackageStartupMessages({library(nlme); library(jsonlite)})
d <- read.csv("ar1_13.csv")
d$g <- factor(d$g)
ctrl <- lmeControl(msMaxIter = 500, msMaxEval = 2000, opt = "nlminb")
fit <- function(random) lme(y ~ x, random = random, data = d, method = "REML",
                            correlation = corAR1(form = ~ t | g), control = ctrl)
info <- function(m) {
  v <- VarCorr(m)
  list(reml_loglik = as.numeric(logLik(m)), fixef = unname(fixef(m)),
       sd = unname(as.numeric(v[1:2, "StdDev"])), cor = as.numeric(v[2, 3]),
       sigma = m$sigma,
       phi = unname(coef(m$modelStruct$corStruct, unconstrained = FALSE)))
}
S <- matrix(c(0.1^2, -0.9 * 0.1 * 0.2, -0.9 * 0.1 * 0.2, 0.2^2), 2)   # relative to sigma
start <- pdLogChol(S, form = ~ x)
out <- list(ar1_13 = list(default = info(fit(~ x | g)),
                          negative_start = info(fit(list(g = start))),
                          nlme = as.character(packageVersion("nlme"))))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "structured_restart.json")
