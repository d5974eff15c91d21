# lm / glm reference values (R 4.2.2) and lme4's anova(lmer, lm).
# Run: Rscript make_baseline.R -> baseline.json
suppressMessages({library(lme4); library(jsonlite)})
ss <- sleepstudy
ss$w <- 1 + (ss$Days %% 3) / 2
ss$phase <- factor(ifelse(ss$Days <= 4, "early", "late"), levels = c("early", "late"))
gs <- read.csv("gamma_sim.csv")
gt <- grouseticks
nd <- data.frame(Days = c(0, 4.5, 9), phase = factor(c("early", "early", "late"), levels = c("early", "late")))
lmrec <- function(f, m) {
  s <- summary(m)
  pc <- predict(m, nd, se.fit = TRUE, interval = "confidence")
  pp <- predict(m, nd, interval = "prediction", level = 0.9)
  list(formula = f, coef = as.list(coef(m)), coefmat = lapply(as.data.frame(coef(s)), unname),
       vcov = unname(as.matrix(vcov(m))), sigma = s$sigma, r_squared = s$r.squared,
       adj_r_squared = s$adj.r.squared, fstatistic = unname(s$fstatistic),
       loglik = as.numeric(logLik(m)), loglik_reml = as.numeric(logLik(m, REML = TRUE)),
       aic = AIC(m), bic = BIC(m), df_residual = df.residual(m), nobs = nobs(m),
       fitted_head = unname(head(fitted(m), 8)), resid_head = unname(head(residuals(m), 8)),
       pred_fit = unname(pc$fit[, "fit"]), pred_se = unname(pc$se.fit),
       pred_lwr = unname(pc$fit[, "lwr"]), pred_upr = unname(pc$fit[, "upr"]),
       pi90_lwr = unname(pp[, "lwr"]), pi90_upr = unname(pp[, "upr"]),
       confint = lapply(as.data.frame(confint(m)), unname),
       printed = capture.output(print(s)))
}
glmrec <- function(f, m) {
  s <- summary(m)
  list(formula = f, coef = as.list(coef(m)), coefmat = lapply(as.data.frame(coef(s)), unname),
       vcov = unname(as.matrix(vcov(m))), dispersion = s$dispersion,
       deviance = deviance(m), null_deviance = m$null.deviance, df_null = m$df.null,
       df_residual = df.residual(m), aic = AIC(m), bic = BIC(m),
       loglik = as.numeric(logLik(m)), iter = m$iter, nobs = nobs(m),
       fitted_head = unname(head(fitted(m), 8)),
       resid_deviance_head = unname(head(residuals(m, "deviance"), 8)),
       resid_pearson_head = unname(head(residuals(m, "pearson"), 8)),
       resid_working_head = unname(head(residuals(m, "working"), 8)),
       resid_response_head = unname(head(residuals(m, "response"), 8)),
       confint_wald = lapply(as.data.frame(confint.default(m)), unname),
       printed = capture.output(print(s)))
}
out <- list()
f <- "Reaction ~ Days"; out$lm_simple <- lmrec(f, lm(as.formula(f), ss))
f <- "Reaction ~ Days * phase"; out$lm_weighted <- lmrec(f, lm(as.formula(f), ss, weights = w))
f <- "cbind(incidence, size - incidence) ~ period"
out$glm_binomial <- glmrec(f, glm(as.formula(f), binomial, cbpp))
f <- "TICKS ~ YEAR + cHEIGHT"; out$glm_poisson <- glmrec(f, glm(as.formula(f), poisson, gt))
f <- "y ~ x"; out$glm_gamma <- glmrec(f, glm(as.formula(f), Gamma(link = "log"), gs))
m <- lmer(Reaction ~ Days + (1 | Subject), sleepstudy)
l <- lm(Reaction ~ Days, sleepstudy)
a <- anova(m, l)
out$anova_lmer_lm <- list(rows = rownames(a), npar = a$npar, AIC = a$AIC, BIC = a$BIC,
                          logLik = a$logLik, deviance = a$deviance, Chisq = a$Chisq,
                          Df = a$Df, p = a[["Pr(>Chisq)"]])
writeLines(toJSON(out, digits = NA, pretty = TRUE, na = "null"), "baseline.json")
