# effects::effect and emmeans reference values (R 4.2.2, lme4 1.1-31, effects, emmeans with
# pbkrtest installed). Run: Rscript make_effects.R -> effects.json
suppressMessages({library(lme4); library(effects); library(emmeans); library(jsonlite)})
ss <- sleepstudy
ss$grp <- factor(ifelse(as.integer(as.character(ss$Subject)) < 335, "A", "B"))
ss$phase <- factor(ifelse(ss$Days <= 4, "early", "late"))
cb <- cbpp
cb$x <- as.numeric(cb$herd) / 3
m <- lmer(Reaction ~ Days * grp + (1 | Subject), ss)
m2 <- lmer(Reaction ~ Days + grp + phase + (1 | Subject), ss)
g <- glmer(cbind(incidence, size - incidence) ~ period + x + (1 | herd), cb, binomial)
eff <- function(e) { d <- as.data.frame(e); lapply(d, function(x) if (is.factor(x)) as.character(x) else x) }
emm <- function(e) { d <- as.data.frame(summary(e)); lapply(d, function(x) if (is.factor(x)) as.character(x) else x) }
out <- list()
out$df_residual_m <- df.residual(m)
out$eff_days <- eff(effect("Days", m))
out$eff_days_xlev <- eff(effect("Days", m, xlevels = list(Days = c(0, 3, 6, 9))))
out$eff_grp <- eff(effect("grp", m))
out$eff_days_grp <- eff(effect("Days:grp", m, xlevels = list(Days = c(0, 9))))
out$eff_m2_phase <- eff(effect("phase", m2))
out$eff_m2_days_90 <- eff(effect("Days", m2, confidence.level = 0.9))
out$eff_glmm_x <- eff(effect("x", g))
out$eff_glmm_period <- eff(effect("period", g))
out$emm_grp_kr <- emm(emmeans(m, "grp"))
out$emm_grp_satt <- emm(emmeans(m, "grp", lmer.df = "satterthwaite"))
out$emm_grp_at <- emm(emmeans(m, "grp", at = list(Days = 2)))
out$emm_m2_phase_by <- emm(emmeans(m2, "phase", by = "grp"))
out$emm_m2_grp <- emm(emmeans(m2, "grp"))
out$pairs_m2_phase <- emm(pairs(emmeans(m2, "phase")))
out$emm_glmm <- emm(emmeans(g, "period"))
out$emm_glmm_resp <- emm(emmeans(g, "period", type = "response"))
out$pairs_glmm <- emm(pairs(emmeans(g, "period")))
out$eff_slope_model <- eff(effect("Days", lmer(Reaction ~ Days + (Days | Subject), sleepstudy)))
writeLines(toJSON(out, digits = NA, pretty = TRUE, na = "null"), "effects.json")
