# Extra lme4 reference fits for features the shared cases do not cover.
# Run: Rscript make_extra_lmer.R  (R 4.2.2, lme4 1.1-31) -> extra_lmer.json
suppressMessages({library(lme4); library(jsonlite)})
ss <- sleepstudy
ss$w <- 1 + (ss$Days %% 3) / 2
ss$off <- ss$Days * 2
ss$phase <- factor(ifelse(ss$Days <= 4, "early", "late"), levels = c("early", "late"))
ss$Days2 <- 2 * ss$Days
ssna <- ss; ssna$Reaction[c(1, 5, 77)] <- NA
out <- list()
rec <- function(id, formula, m, data_note) {
  vc <- as.data.frame(VarCorr(m))
  list(id = id, formula = formula, data_note = data_note, REML = isREML(m),
       nobs = nobs(m), deviance = deviance(m), loglik = as.numeric(logLik(m)),
       aic = AIC(m), bic = BIC(m),
       fixef = as.list(fixef(m)), fixef_se = as.list(sqrt(diag(as.matrix(vcov(m))))),
       theta = unname(getME(m, "theta")), sigma = sigma(m),
       varcorr = lapply(seq_len(nrow(vc)), function(i) list(grp = vc$grp[i],
         var1 = if (is.na(vc$var1[i])) NULL else vc$var1[i],
         var2 = if (is.na(vc$var2[i])) NULL else vc$var2[i],
         vcov = vc$vcov[i], sdcor = vc$sdcor[i])),
       fitted_head = unname(head(fitted(m), 10)),
       ranef_first = lapply(ranef(m), function(r) as.list(r[1, , drop = FALSE])))
}
f1 <- "Reaction ~ Days + (Days | Subject)"
out[[length(out) + 1]] <- rec("weights_reml", f1, lmer(as.formula(f1), ss, weights = w), "weights w = 1 + (Days %% 3)/2")
out[[length(out) + 1]] <- rec("weights_ml", f1, lmer(as.formula(f1), ss, weights = w, REML = FALSE), "weights w = 1 + (Days %% 3)/2")
f2 <- "Reaction ~ Days + (1 | Subject)"
out[[length(out) + 1]] <- rec("offset_reml", f2, lmer(as.formula(f2), ss, offset = off), "offset = 2 * Days")
f3 <- "Reaction ~ phase + (0 + phase | Subject)"
out[[length(out) + 1]] <- rec("factor_slope_reml", f3, lmer(as.formula(f3), ss), "phase = early (Days <= 4) / late")
out[[length(out) + 1]] <- rec("missing_rows_reml", f1, lmer(as.formula(f1), ssna), "Reaction NA in rows 1, 5, 77")
f4 <- "Reaction ~ Days + Days2 + (1 | Subject)"
out[[length(out) + 1]] <- rec("rank_deficient_reml", f4, lmer(as.formula(f4), ss), "Days2 = 2 * Days")
f5 <- "log(Reaction) ~ scale(Days) + I(Days^2) + (1 | Subject)"
out[[length(out) + 1]] <- rec("transforms_reml", f5, lmer(as.formula(f5), ss), "none")
f6 <- "Reaction ~ Days + (Days || Subject)"
out[[length(out) + 1]] <- rec("double_bar_reml", f6, lmer(as.formula(f6), ss), "none")
f7 <- "Reaction ~ phase * Days + (1 | Subject) + (0 + Days | Subject)"
out[[length(out) + 1]] <- rec("interaction_two_terms_ml", f7, lmer(as.formula(f7), ss, REML = FALSE), "phase as above")
pen <- Penicillin
f8 <- "diameter ~ 1 + (1 | plate) + (1 | sample)"
out[[length(out) + 1]] <- rec("penicillin_ml", f8, lmer(as.formula(f8), pen, REML = FALSE), "none")
# predictions with re.form selecting one of two crossed terms
mp <- lmer(as.formula(f8), pen)
nd <- data.frame(plate = c("a", "b", "x"), sample = c("A", "F", "B"))
pr <- list(id = "penicillin_reform", formula = f8,
           re_form_sample = unname(predict(mp, newdata = nd, re.form = ~ (1 | sample))),
           newdata = nd)
out[[length(out) + 1]] <- pr
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", pretty = TRUE), "extra_lmer.json")
