# Reference behaviour of lme4 for theta start values outside / on / inside the optimizer's
# bounds (diagonal elements of each relative covariance factor: lower bound 0; off-diagonal
# elements: unbounded): which starts lme4 refuses (and its message), and theta of the fits it
# accepts. Run: Rscript make_start_bounds.R  (writes start_bounds.json beside this script)
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
one <- function(expr) {
  r <- tryCatch(eval(expr), error = function(e) e)
  if (inherits(r, "error")) return(list(refused = TRUE, message = conditionMessage(r)))
  list(refused = FALSE, theta = unname(getME(r, "theta")))
}
cb <- quote(cbind(incidence, size - incidence) ~ period + (1 | herd))
out <- list(
  lmer_negative = one(quote(lmer(Reaction ~ Days + (1 | Subject), sleepstudy, start = -1))),
  lmer_slope_negative_diagonal = one(quote(lmer(Reaction ~ Days + (Days | Subject), sleepstudy,
                                                start = c(1, -0.5, -1)))),
  lmer_slope_negative_offdiagonal = one(quote(lmer(Reaction ~ Days + (Days | Subject),
                                                   sleepstudy, start = c(1, -0.5, 1)))),
  lmer_zero = one(quote(lmer(Reaction ~ Days + (1 | Subject), sleepstudy, start = 0))),
  glmer_negative = one(bquote(glmer(.(cb), cbpp, binomial, start = list(theta = -1)))),
  glmer_zero = one(bquote(glmer(.(cb), cbpp, binomial, start = list(theta = 0)))),
  lme4 = as.character(packageVersion("lme4")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "start_bounds.json")
