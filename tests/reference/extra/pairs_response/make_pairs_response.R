# emmeans' pairs(emmeans(m, specs, by), type = "response") reference tables (and two
# summary(emmeans(m, specs), type = "response") tables of transformed LMM responses)
# (R 4.2.2, lme4 1.1-31, emmeans 1.8.4-1). Run: Rscript make_pairs_response.R -> pairs_response.json
# epil_visits.csv: MASS's epil with `visit`, a factor with levels 0, 1, 2, 3+ (labels emmeans
# writes without the variable name and with parentheses: "0 / (3+)").
suppressMessages({library(lme4); library(emmeans); library(jsonlite)})
stopifnot(packageVersion("emmeans") == "1.8.4.1")
epil <- MASS::epil
epil$visit <- c("0", "1", "2", "3+")[epil$period]
epil$pos <- as.integer(epil$y > 4)
write.csv(epil[, c("y", "pos", "trt", "lbase", "lage", "subject", "visit")], "epil_visits.csv",
          row.names = FALSE)
ep <- read.csv("epil_visits.csv", stringsAsFactors = TRUE)
ep$subject <- factor(ep$subject)
cb <- lme4::cbpp
ss <- lme4::sleepstudy
ss$phase <- ifelse(ss$Days <= 4, "early", "late")
gt <- lme4::grouseticks
# cbpp with a numeric period score used as factor(sev) in the formula: emmeans' grid takes
# the factor's levels in numeric order (5, 10, 20, 40) and labels them "sev5"
cbn <- data.frame(herd = cb$herd, incidence = cb$incidence, size = cb$size,
                  sev = c(5, 10, 20, 40)[as.integer(cb$period)])
write.csv(cbn, "cbpp_sev.csv", row.names = FALSE)
cbn <- read.csv("cbpp_sev.csv")
cbn$herd <- factor(cbn$herd)
models <- list(
  cbpp_logit = glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cb,
                     family = binomial),
  cbpp_probit = glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cb,
                      family = binomial(link = "probit")),
  ticks_pois = glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD), gt, family = poisson),
  epil_pois = glmer(y ~ visit + trt + lbase + (1 | subject), ep, family = poisson),
  epil_logit = glmer(pos ~ visit + trt + lbase + (1 | subject), ep, family = binomial),
  ticks_nb = glmer.nb(TICKS ~ YEAR + cHEIGHT + (1 | BROOD), gt),
  sleep_lmm = lmer(Reaction ~ Days + phase + (1 | Subject), ss),
  sleep_log = lmer(log(Reaction) ~ Days + phase + (1 | Subject), ss),
  sleep_log10 = lmer(log10(Reaction) ~ phase + (1 | Subject), ss),
  sleep_sqrt = lmer(sqrt(Reaction) ~ phase + (1 | Subject), ss),
  epil_glm = glm(y ~ visit + trt + lbase, data = ep, family = poisson),
  cbpp_glm = glm(cbind(incidence, size - incidence) ~ period, data = cb, family = binomial),
  cbpp_sev = glmer(cbind(incidence, size - incidence) ~ factor(sev) + (1 | herd), cbn,
                   family = binomial),
  # emmeans' additive constant (log(y + c): exp(eta) - c) and log1p
  sleep_logc = lmer(log(Reaction + 10) ~ phase + (1 | Subject), ss),
  sleep_log1p = lmer(log1p(Reaction) ~ phase + (1 | Subject), ss),
  sleep_sqrtc = lmer(sqrt(Reaction + 0.5) ~ phase + (1 | Subject), ss),
  # offsets: the grid's offset is the mean of the model's offset (emmeans' .offset.)
  cbpp_offset = glmer(incidence ~ period + offset(log(size)) + (1 | herd), cb, family = poisson),
  cbpp_offset_glm = glm(incidence ~ period + offset(log(size)), data = cb, family = poisson))
cases <- list(
  list(key = "cbpp_logit_period", model = "cbpp_logit", specs = "period"),
  list(key = "cbpp_logit_period_none", model = "cbpp_logit", specs = "period", adjust = "none"),
  list(key = "cbpp_logit_period_bonf", model = "cbpp_logit", specs = "period",
       adjust = "bonferroni"),
  list(key = "cbpp_probit_period", model = "cbpp_probit", specs = "period"),
  list(key = "ticks_pois_year", model = "ticks_pois", specs = "YEAR"),
  list(key = "epil_pois_visit", model = "epil_pois", specs = "visit"),
  list(key = "epil_pois_visit_link", model = "epil_pois", specs = "visit", type = "link"),
  list(key = "epil_pois_trt", model = "epil_pois", specs = "trt"),
  list(key = "epil_logit_visit_by_trt", model = "epil_logit", specs = "visit", by = "trt"),
  list(key = "epil_logit_trt_visit", model = "epil_logit", specs = c("trt", "visit")),
  list(key = "ticks_nb_year", model = "ticks_nb", specs = "YEAR"),
  list(key = "sleep_lmm_phase", model = "sleep_lmm", specs = "phase"),
  list(key = "sleep_log_phase", model = "sleep_log", specs = "phase"),
  list(key = "sleep_log_phase_emmeans", model = "sleep_log", specs = "phase", what = "emmeans"),
  list(key = "sleep_log10_phase", model = "sleep_log10", specs = "phase"),
  list(key = "sleep_sqrt_phase", model = "sleep_sqrt", specs = "phase"),
  list(key = "sleep_sqrt_phase_emmeans", model = "sleep_sqrt", specs = "phase",
       what = "emmeans"),
  list(key = "epil_glm_visit", model = "epil_glm", specs = "visit"),
  list(key = "cbpp_glm_period", model = "cbpp_glm", specs = "period"),
  list(key = "cbpp_sev_factor_call", model = "cbpp_sev", specs = "sev"),
  list(key = "cbpp_sev_factor_call_emmeans", model = "cbpp_sev", specs = "sev",
       what = "emmeans"),
  # emmeans' other adjust= methods, within each by group
  list(key = "epil_logit_visit_by_trt_holm", model = "epil_logit", specs = "visit", by = "trt",
       adjust = "holm"),
  list(key = "epil_logit_visit_by_trt_sidak", model = "epil_logit", specs = "visit",
       by = "trt", adjust = "sidak"),
  list(key = "epil_logit_visit_by_trt_scheffe", model = "epil_logit", specs = "visit",
       by = "trt", adjust = "scheffe"),
  list(key = "epil_pois_visit_hommel", model = "epil_pois", specs = "visit", adjust = "hommel"),
  list(key = "epil_pois_visit_hochberg", model = "epil_pois", specs = "visit",
       adjust = "hochberg"),
  list(key = "epil_pois_visit_BH", model = "epil_pois", specs = "visit", adjust = "BH"),
  list(key = "epil_pois_visit_BY", model = "epil_pois", specs = "visit", adjust = "BY"),
  list(key = "epil_glm_visit_fdr", model = "epil_glm", specs = "visit", adjust = "fdr"),
  list(key = "sleep_log_phase_days_scheffe", model = "sleep_log", specs = "phase",
       adjust = "scheffe"),
  list(key = "cbpp_glm_period_bonf_prefix", model = "cbpp_glm", specs = "period",
       adjust = "bonf"),
  list(key = "sleep_logc_phase", model = "sleep_logc", specs = "phase"),
  list(key = "sleep_logc_phase_emmeans", model = "sleep_logc", specs = "phase",
       what = "emmeans"),
  list(key = "sleep_log1p_phase", model = "sleep_log1p", specs = "phase"),
  list(key = "sleep_log1p_phase_emmeans", model = "sleep_log1p", specs = "phase",
       what = "emmeans"),
  list(key = "sleep_sqrtc_phase_emmeans", model = "sleep_sqrtc", specs = "phase",
       what = "emmeans"),
  list(key = "cbpp_offset_period_emmeans", model = "cbpp_offset", specs = "period",
       what = "emmeans"),
  list(key = "cbpp_offset_period", model = "cbpp_offset", specs = "period"),
  list(key = "cbpp_offset_glm_period_emmeans", model = "cbpp_offset_glm", specs = "period",
       what = "emmeans"))
out <- list()
for (cs in cases) {
  dat <- if (cs$model == "cbpp_sev") list(data = cbn) else list()
  em <- if (is.null(cs$by)) do.call(emmeans, c(list(models[[cs$model]], cs$specs), dat)) else
    do.call(emmeans, c(list(models[[cs$model]], cs$specs, by = cs$by), dat))
  type <- if (is.null(cs$type)) "response" else cs$type
  pr <- if (!is.null(cs$what)) em else
    if (is.null(cs$adjust)) pairs(em, type = type) else pairs(em, type = type, adjust = cs$adjust)
  s <- as.data.frame(if (is.null(cs$what)) summary(pr) else summary(pr, type = type))
  for (j in seq_along(s)) if (is.factor(s[[j]])) s[[j]] <- as.character(s[[j]])
  out[[cs$key]] <- list(case = cs, table = s, printed = capture.output(
    if (is.null(cs$what)) print(pr) else print(summary(pr, type = type))))
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           "pairs_response.json")
