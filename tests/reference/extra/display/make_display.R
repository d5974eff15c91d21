# arm::display() printed output (R 4.2.2, lme4 1.1-31, arm 1.13-1).
# Run: Rscript make_display.R -> display.json (the printed lines of each case)
suppressMessages({library(lme4); library(arm); library(jsonlite)})
stopifnot(packageVersion("arm") == "1.13.1")
sleepstudy <- lme4::sleepstudy
Penicillin <- lme4::Penicillin
cbpp <- lme4::cbpp
grouseticks <- lme4::grouseticks
Orthodont <- as.data.frame(nlme::Orthodont)
Orthodont$Subject <- factor(as.character(Orthodont$Subject))
Pastes <- lme4::Pastes
cases <- list(
  list(key = "lmer_sleep_reml", call = quote(lmer(formula = Reaction ~ Days + (Days | Subject),
                                                  data = sleepstudy))),
  list(key = "lmer_sleep_ml", call = quote(lmer(formula = Reaction ~ Days + (1 | Subject),
                                                data = sleepstudy, REML = FALSE))),
  list(key = "lmer_orth", call = quote(lmer(formula = distance ~ age * Sex + (age | Subject),
                                            data = Orthodont))),
  list(key = "lmer_penicillin", call = quote(lmer(formula = diameter ~ 1 + (1 | plate) +
                                                    (1 | sample), data = Penicillin))),
  list(key = "lmer_pastes_nested", call = quote(lmer(formula = strength ~ 1 + (1 | batch / cask),
                                                     data = Pastes))),
  list(key = "lmer_sleep_uncor", call = quote(lmer(formula = Reaction ~ Days + (Days || Subject),
                                                   data = sleepstudy))),
  list(key = "glmer_cbpp", call = quote(glmer(formula = cbind(incidence, size - incidence) ~
                                                period + (1 | herd), data = cbpp,
                                              family = binomial))),
  list(key = "glmer_ticks", call = quote(glmer(formula = TICKS ~ YEAR + cHEIGHT + (1 | BROOD),
                                               data = grouseticks, family = poisson))),
  list(key = "lm_sleep", call = quote(lm(formula = Reaction ~ Days, data = sleepstudy))),
  list(key = "lm_orth", call = quote(lm(formula = distance ~ age * Sex, data = Orthodont))),
  list(key = "glm_cbpp", call = quote(glm(formula = cbind(incidence, size - incidence) ~ period,
                                          family = binomial, data = cbpp))),
  list(key = "glm_ticks", call = quote(glm(formula = TICKS ~ YEAR + cHEIGHT, family = poisson,
                                           data = grouseticks))),
  list(key = "glm_orth_gauss", call = quote(glm(formula = distance ~ age + Sex,
                                                family = gaussian, data = Orthodont))),
  # user data under another name (mixedfx: data_name="orth2" / "herds")
  list(key = "lm_orth_named", call = quote(lm(formula = distance ~ age + Sex, data = orth2))),
  list(key = "glm_cbpp_named", call = quote(glm(formula = cbind(incidence, size - incidence) ~
                                                  period, family = binomial, data = herds))))
orth2 <- Orthodont
herds <- cbpp
out <- list()
for (cs in cases) {
  fit <- eval(cs$call)
  out[[cs$key]] <- list(call = paste(deparse(cs$call, width.cutoff = 500L), collapse = ""),
                        printed = capture.output(display(fit)),
                        printed_detail = capture.output(display(fit, detail = TRUE)),
                        printed_digits3 = capture.output(display(fit, digits = 3)))
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "display.json")
