# Formula conveniences (issue 23 item 7): lme4's expansion of `.` (all columns of the data
# but the response; grouping variables included), relevel() inside a formula, the call as
# m@call prints it and the summary's Data: line. Run: Rscript make_formula_conveniences.R
suppressMessages({library(lme4); library(emmeans); library(jsonlite)})
d <- sleepstudy
d$f <- factor(rep(c("a", "b", "c"), 60))
d$x <- round(sin(seq_len(180)), 6)
write.csv(d, "dot_data.csv", row.names = FALSE)
fit <- function(m) list(fixef_names = names(fixef(m)), fixef = unname(fixef(m)),
                        se = unname(sqrt(diag(as.matrix(vcov(m))))),
                        deviance = unname(REMLcrit(m)), call = deparse(m@call, width.cutoff = 500L),
                        formula = deparse(formula(m)))
dd <- d[, c("Reaction", "Days", "f", "x", "Subject")]
out <- list(
  dot_all_names = names(fixef(suppressMessages(lmer(Reaction ~ . + (1 | Subject), dd)))),
  dot = fit(lmer(Reaction ~ . - Subject + (1 | Subject), dd)),
  dot_plus = fit(lmer(Reaction ~ . + Days:f - Subject + (Days | Subject), dd)),
  relevel_pos = fit(lmer(Reaction ~ Days + relevel(f, "b") + (1 | Subject), d)),
  relevel_ref = fit(lmer(Reaction ~ Days * relevel(f, ref = "c") + (1 | Subject), d)),
  ml_call = list(call = deparse(width.cutoff = 500L, lmer(Reaction ~ Days + (Days | Subject), sleepstudy,
                                     REML = FALSE)@call)),
  glmer_call = list(call = deparse(width.cutoff = 500L, glmer(cbind(incidence, size - incidence) ~ period +
                                           (1 | herd), cbpp, family = binomial)@call)),
  sqrt_call = list(call = deparse(width.cutoff = 500L, glmer(TICKS ~ YEAR + (1 | BROOD),
                    grouseticks, family = poisson(link = "sqrt"))@call)),
  nb_call = list(call = deparse(width.cutoff = 500L, getCall(glmer.nb(TICKS ~ YEAR +
                    (1 | BROOD), grouseticks)))),
  gls_call = list(call = deparse(width.cutoff = 500L, nlme::gls(distance ~ age,
                    nlme::Orthodont, method = "ML")$call)),
  data_line = grep("Data:", capture.output(summary(lmer(Reaction ~ Days + (1 | Subject),
                                                          sleepstudy))), value = TRUE),
  # stats' terms.formula (lm, glm): '.' leaves out every column the response names
  lm_log_dot = with(list(m = lm(log(Reaction) ~ . - Subject, dd)),
                    list(fixef_names = names(coef(m)), fixef = unname(coef(m)))),
  glm_cbind_dot = with(list(m = glm(cbind(Days, 9 - Days) ~ . - Subject, binomial, dd)),
                       list(fixef_names = names(coef(m)), fixef = unname(coef(m)))),
  # emmeans of a model with relevel(f, ref = "c") in the formula: levels in the relevelled
  # order, as emmeans lists them for the relevelled column (emmeans itself cannot rebuild
  # the grid of relevel() with a quoted level inside the formula)
  relevel_emmeans = local({
    dr <- d
    dr$f <- relevel(dr$f, ref = "c")
    m <- lmer(Reaction ~ Days * f + (1 | Subject), dr)
    em <- emmeans(m, "f", data = dr)
    tab <- function(x) { x <- as.data.frame(x); if (!is.null(x$f)) x$f <- as.character(x$f)
                         if (!is.null(x$contrast)) x$contrast <- as.character(x$contrast); x }
    list(emmeans = tab(summary(em)), pairs = tab(summary(pairs(em))))
  }),
  versions = list(lme4 = as.character(packageVersion("lme4")))
)
write_json(out, "formula_conveniences.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
