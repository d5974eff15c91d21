# RLRsim's printed htest output (stats:::print.htest) and the messages exactLRT gives for a
# REML fit; issue 23 item 12. Run: Rscript make_rlrsim_print.R  (writes rlrsim_print.json)
suppressMessages({library(lme4); library(RLRsim); library(jsonlite)})
d <- sleepstudy
m <- lmer(Reaction ~ Days + (1 | Subject), d)
rl <- exactRLRT(m, nsim = 1000, seed = 1)
m_ml <- lmer(Reaction ~ Days + (1 | Subject), d, REML = FALSE)
m0 <- lm(Reaction ~ 1, d)
lr_ml <- exactLRT(m_ml, m0, nsim = 1000, seed = 1)
msgs <- character(0)
lr_reml <- withCallingHandlers(exactLRT(m, m0, nsim = 1000, seed = 1),
  message = function(e) { msgs <<- c(msgs, conditionMessage(e)); invokeRestart("muffleMessage") })
out <- list(
  rlrt_print = paste(capture.output(print(rl)), collapse = "\n"),
  rlrt_statistic = unname(rl$statistic), rlrt_p = rl$p.value,
  lrt_ml_print = paste(capture.output(print(lr_ml)), collapse = "\n"),
  lrt_ml_statistic = unname(lr_ml$statistic), lrt_ml_p = lr_ml$p.value,
  lrt_reml_statistic = unname(lr_reml$statistic), lrt_reml_messages = msgs,
  versions = list(lme4 = as.character(packageVersion("lme4")),
                  RLRsim = as.character(packageVersion("RLRsim")))
)
write_json(out, "rlrsim_print.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
