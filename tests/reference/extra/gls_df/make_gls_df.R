# nlme::gls fits with emmeans' Satterthwaite df (mode = "satterthwaite") and its
# "df.error" df, as references for mfx.gls's df methods. Orthodont from nlme, with a visit
# factor and an unstructured correlation (corSymm) plus visit variances (varIdent): the MMRM
# that users reach through gls. Output: gls_df.json.
suppressPackageStartupMessages({library(nlme); library(emmeans); library(jsonlite)})
d <- as.data.frame(Orthodont)
d$Subject <- factor(as.character(d$Subject))
d$visit <- factor(d$age)
out <- list()
fits <- list(
  symm_ident_reml = gls(distance ~ Sex * visit, data = d,
                        correlation = corSymm(form = ~ as.integer(visit) | Subject),
                        weights = varIdent(form = ~ 1 | visit), method = "REML"),
  ar1_reml = gls(distance ~ Sex + age, data = d,
                 correlation = corAR1(form = ~ 1 | Subject), method = "REML"),
  cs_ml = gls(distance ~ Sex + age, data = d,
              correlation = corCompSymm(form = ~ 1 | Subject), method = "ML")
)
for (nm in names(fits)) {
  f <- fits[[nm]]
  em <- as.data.frame(emmeans(f, ~ Sex, mode = "satterthwaite"))
  em_err <- as.data.frame(emmeans(f, ~ Sex, mode = "df.error"))
  out[[nm]] <- list(
    emmean = em$emmean, SE = em$SE, df_satterthwaite = em$df, df_error = em_err$df,
    logLik = as.numeric(logLik(f)))
}
out$versions <- list(nlme = as.character(packageVersion("nlme")),
                     emmeans = as.character(packageVersion("emmeans")), R = R.version.string)
write_json(out, "gls_df.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
