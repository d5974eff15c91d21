# anova(lm) and anova(glm, test = "Chisq") reference tables and printed text (R 4.2.2, stats).
# Run: Rscript make_baseline_anova.R -> baseline_anova.json
suppressMessages({library(lme4); library(jsonlite)})
ss <- lme4::sleepstudy
ss$phase <- ifelse(ss$Days <= 4, "early", "late")
ss$w <- ss$Days + 1
orth <- as.data.frame(nlme::Orthodont)
orth$Subject <- factor(as.character(orth$Subject))
cb <- lme4::cbpp
gt <- lme4::grouseticks
ep <- read.csv("../pairs_response/epil_visits.csv", stringsAsFactors = TRUE)
data_of <- list(sleepstudy = ss, Orthodont = orth, cbpp = cb, grouseticks = gt, epil = ep)
cases <- list(
  list(key = "lm_sleep", fun = "lm", formula = "Reaction ~ Days * phase", data = "sleepstudy"),
  list(key = "lm_orth", fun = "lm", formula = "distance ~ age + Sex + age:Sex", data = "Orthodont"),
  list(key = "lm_ticks", fun = "lm", formula = "log(TICKS + 1) ~ YEAR + HEIGHT", data = "grouseticks"),
  list(key = "lm_sleep_weighted", fun = "lm", formula = "Reaction ~ Days + phase",
       data = "sleepstudy", weights = "w"),
  list(key = "glm_ticks_noint", fun = "glm", family = "poisson", test = "Chisq",
       formula = "TICKS ~ 0 + YEAR + cHEIGHT", data = "grouseticks"),
  list(key = "glm_cbpp_chisq", fun = "glm", family = "binomial", test = "Chisq",
       formula = "cbind(incidence, size - incidence) ~ period", data = "cbpp"),
  list(key = "glm_ticks_chisq", fun = "glm", family = "poisson", test = "Chisq",
       formula = "TICKS ~ YEAR + cHEIGHT + YEAR:cHEIGHT", data = "grouseticks"),
  list(key = "glm_epil_chisq", fun = "glm", family = "poisson", test = "Chisq",
       formula = "y ~ lbase + trt + visit", data = "epil"),
  list(key = "glm_epil_none", fun = "glm", family = "poisson",
       formula = "y ~ lbase + trt + visit", data = "epil"),
  list(key = "glm_orth_gauss_F", fun = "glm", family = "gaussian", test = "F",
       formula = "distance ~ age + Sex", data = "Orthodont"),
  list(key = "glm_orth_gauss_chisq", fun = "glm", family = "gaussian", test = "Chisq",
       formula = "distance ~ age + Sex", data = "Orthodont"),
  # test = "F" with a fixed dispersion (R warns): Pr(>F) from F on (Df, Inf) df
  list(key = "glm_ticks_F", fun = "glm", family = "poisson", test = "F",
       formula = "TICKS ~ YEAR + cHEIGHT", data = "grouseticks"),
  list(key = "glm_cbpp_F", fun = "glm", family = "binomial", test = "F",
       formula = "cbind(incidence, size - incidence) ~ period", data = "cbpp"))
out <- list()
for (cs in cases) {
  d <- data_of[[cs$data]]
  fit <- if (cs$fun == "lm") {
    if (is.null(cs$weights)) lm(as.formula(cs$formula), d) else
      lm(as.formula(cs$formula), d, weights = d[[cs$weights]])
  } else
    glm(as.formula(cs$formula), family = cs$family, data = d)
  a <- suppressWarnings(if (is.null(cs$test)) anova(fit) else anova(fit, test = cs$test))
  tab <- as.data.frame(a)
  out[[cs$key]] <- list(case = cs, rows = rownames(tab), columns = names(tab),
                        values = lapply(tab, function(x) x),
                        printed = capture.output(print(a)))
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           "baseline_anova.json")
