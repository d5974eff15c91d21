# lme4 hatvalues / cooks.distance / influence, performance::check_collinearity, Wald
# prediction standard errors and arm's binned residuals (R 4.2.2, lme4 1.1-31,
# performance 0.10.2, arm 1.13-1).
# Run: Rscript make_diagnostics.R -> diagnostics.json
suppressMessages({library(lme4); library(performance); library(jsonlite)})
data(Orthodont, package = "nlme")
Orthodont <- as.data.frame(Orthodont)
Orthodont$Subject <- factor(as.character(Orthodont$Subject))

infl <- function(m, groups) {
  inf <- influence(m, groups = groups)
  list(groups = groups, deleted = as.character(inf$deleted),
       fixed_deleted = unname(as.list(as.data.frame(t(inf[[2]])))),
       vc = as.list(inf$var.cov.comps),
       vc_deleted = unname(as.list(as.data.frame(t(inf[[4]])))),
       cooks = unname(cooks.distance(inf)),
       dfbetas = unname(as.list(as.data.frame(t(dfbetas(inf))))))
}
wald <- function(m, newdata, re.form) {
  X <- model.matrix(delete.response(terms(m)), newdata)
  se <- sqrt(diag(X %*% as.matrix(vcov(m)) %*% t(X)))
  eta <- predict(m, newdata = newdata, re.form = re.form, type = "link")
  list(eta = unname(eta), se = unname(se))
}

ss <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
ort <- lmer(distance ~ age + Sex + (1 | Subject), Orthodont)
ortw <- lmer(distance ~ age * Sex + (age | Subject), Orthodont)
pen <- lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)
cb <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)

nd_ss <- data.frame(Days = 0:9, Subject = "308")
nd_cb <- data.frame(period = factor(1:4), herd = factor("1", levels = levels(cbpp$herd)))
vf <- check_collinearity(ortw)
out <- list(
  sleepstudy = list(formula = "Reaction ~ Days + (Days | Subject)", data = "sleepstudy",
    hat = unname(hatvalues(ss)), cooks = unname(cooks.distance(ss)),
    influence = infl(ss, "Subject"),
    pred_fixed = wald(ss, nd_ss, NA), pred_full = wald(ss, nd_ss, NULL)),
  orthodont = list(formula = "distance ~ age + Sex + (1 | Subject)", data = "Orthodont",
    hat = unname(hatvalues(ort)), cooks = unname(cooks.distance(ort)),
    influence = infl(ort, "Subject")),
  orthodont_vif = list(formula = "distance ~ age * Sex + (age | Subject)", data = "Orthodont",
    Term = vf$Term, VIF = vf$VIF, VIF_CI_low = vf$VIF_CI_low, VIF_CI_high = vf$VIF_CI_high),
  penicillin = list(formula = "diameter ~ 1 + (1 | plate) + (1 | sample)", data = "Penicillin",
    hat = unname(hatvalues(pen)), cooks = unname(cooks.distance(pen))),
  cbpp = list(formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
    data = "cbpp", hat = unname(suppressWarnings(hatvalues(cb))),
    cooks = unname(suppressWarnings(cooks.distance(cb))),
    influence = infl(cb, "herd"),
    pred_link = wald(cb, nd_cb, NULL),
    pred_response = list(mu = unname(predict(cb, nd_cb, type = "response"))),
    no_pooling = sapply(levels(cbpp$herd), function(h) {
      X <- model.matrix(~ period, cbpp)
      o <- drop(X[, -1] %*% fixef(cb)[-1])
      d <- cbpp$herd == h
      unname(coef(suppressWarnings(glm(cbind(incidence, size - incidence) ~ 1,
                                       binomial, cbpp[d, ], offset = o[d]))))
    }),
    complete_pooling = unname(coef(glm(cbind(incidence, size - incidence) ~ period, binomial,
                                       cbpp))),
    binned = as.list(as.data.frame(arm::binned.resids(fitted(cb), resid(cb, type = "response"),
                                                      nclass = 10)$binned))))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "diagnostics.json")
