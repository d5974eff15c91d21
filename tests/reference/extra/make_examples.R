# Numbers printed by examples/crossed_nested.py, from R 4.2.2 / lme4 1.1-31.
# Run: Rscript make_examples.R -> examples.json
suppressMessages({library(lme4); library(jsonlite)})
out <- list()
pen <- lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)
out$penicillin_reml <- REMLcrit(pen)
out$penicillin_sd <- as.data.frame(VarCorr(pen))$sdcor
p1 <- lmer(strength ~ 1 + (1 | batch/cask), Pastes)
p0 <- lmer(strength ~ 1 + (1 | batch), Pastes)
a <- anova(p0, p1)
out$pastes_lrt_chisq <- a$Chisq[2]
out$pastes_lrt_p <- a[["Pr(>Chisq)"]][2]
out$pastes_aic <- AIC(p0, p1)$AIC
p2 <- lmer(strength ~ 1 + (1 | cask:batch), Pastes)
out$pastes_sample_only_reml <- REMLcrit(p2)
writeLines(toJSON(out, digits = NA, pretty = TRUE, auto_unbox = TRUE), "examples.json")
