# nlme's ML standard errors (issue 23 item 11): summary(lme(..., method = "ML")) multiplies
# the fixed-effect SEs by sqrt(N / (N - p)) (adjustSigma = TRUE); vcov(m) is not scaled.
# gls ML fits use sigma^2 = RSS/(N - p) in varBeta already. Run: Rscript make_nlme_ml_se.R
suppressMessages({library(nlme); library(jsonlite)})
O <- as.data.frame(Orthodont)
O$Subject <- factor(as.character(O$Subject), levels = levels(Orthodont$Subject), ordered = TRUE)
row <- function(m) {
  s <- summary(m)
  tt <- s$tTable
  list(names = rownames(tt), estimate = unname(tt[, "Value"]),
       se_summary = unname(tt[, "Std.Error"]), t_summary = unname(tt[, "t-value"]),
       se_vcov = unname(sqrt(diag(vcov(m)))), sigma = m$sigma,
       logLik = as.numeric(logLik(m)), N = m$dims$N)
}
out <- list(
  lme_varpower = row(lme(distance ~ age + Sex, random = ~ 1 | Subject, data = O,
                         method = "ML", weights = varPower(form = ~ age))),
  lme_ar1 = row(lme(distance ~ age + Sex, random = ~ 1 | Subject, data = O, method = "ML",
                    correlation = corAR1(form = ~ 1 | Subject))),
  gls_varident = row(gls(distance ~ age + Sex, data = O, method = "ML",
                         weights = varIdent(form = ~ 1 | Sex))),
  versions = list(nlme = as.character(packageVersion("nlme")))
)
write_json(out, "nlme_ml_se.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
