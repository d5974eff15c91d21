# glmer.nb on counts with no overdispersion left after the Poisson GLMM (found by the fuzz
# harness, seeds 20261129 case 47, 20261130 case 2160 and 20261201 case 5): MASS::theta.ml reaches its
# iteration limit with theta still growing and lme4's Brent search ends at the upper end of
# its interval, log(theta0) + 3.  Writes nb_underdispersed.json.
suppressMessages({library(lme4); library(MASS); library(jsonlite)})
run <- function(file, formula) {
  d <- read.csv(file, stringsAsFactors = FALSE)
  d$g <- factor(d$g)
  if (!is.null(d$f)) d$f <- factor(d$f)
  warns <- character()
  r <- withCallingHandlers(glmer.nb(as.formula(formula), data = d),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  p <- suppressWarnings(glmer(as.formula(formula), data = d, family = poisson))
  th0 <- suppressWarnings(theta.ml(model.response(model.frame(p)), fitted(p), limit = 20, eps = 1e-4))
  list(formula = formula, file = basename(file), logLik = as.numeric(logLik(r)),
       nb_theta = getME(r, "glmer.nb.theta"), theta0 = as.numeric(th0),
       fixef = as.list(fixef(r)), theta = unname(getME(r, "theta")), warnings = unique(warns))
}
out <- list(
  small = run("nb_underdispersed_30.csv", "y ~ offset(x) + x + (1 | g) + (1 | g)"),
  degenerate = run("nb_underdispersed_60.csv", "y ~ f + h + x:f + (1|x) + (f*x | g)"),
  slopes = run("nb_underdispersed_slopes_30.csv", "y ~ x + x2 + (x + x2 | g)"))
write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "nb_underdispersed.json")
