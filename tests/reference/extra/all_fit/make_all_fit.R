# Reference values for mixedfx's all_fit (lme4's allFit): per-optimizer criteria, theta,
# fixef and sigma from nloptwrap's NLOPT_LN_BOBYQA, NLOPT_LN_NELDERMEAD, NLOPT_LN_COBYLA and
# NLOPT_LN_SBPLX (mixedfx's bobyqa, nelder_mead, cobyla, sbplx), plus lme4's own default fit.
# Run: Rscript make_all_fit.R  (writes all_fit.json beside this script)
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
meth <- cbind(optimizer = "nloptwrap",
              method = c("NLOPT_LN_BOBYQA", "NLOPT_LN_NELDERMEAD", "NLOPT_LN_COBYLA",
                         "NLOPT_LN_SBPLX"))
ours <- c(NLOPT_LN_BOBYQA = "bobyqa", NLOPT_LN_NELDERMEAD = "nelder_mead",
          NLOPT_LN_COBYLA = "cobyla", NLOPT_LN_SBPLX = "sbplx")
one <- function(m) {
  af <- allFit(m, meth.tab = meth, verbose = FALSE)
  s <- summary(af)
  names_ok <- sub("^nloptwrap\\.", "", names(af))
  crit <- sapply(af, function(f) if (isREML(f)) REMLcrit(f) else deviance(f))
  list(
    default = list(criterion = if (isREML(m)) REMLcrit(m) else deviance(m),
                   theta = unname(getME(m, "theta")), fixef = unname(fixef(m)),
                   sigma = sigma(m)),
    optimizers = unname(ours[names_ok]),
    which_ok = unname(s$which.OK),
    criterion = unname(crit),
    llik = unname(s$llik),
    theta = unname(s$theta), fixef = unname(s$fixef),
    sigma = unname(sapply(af, sigma)),
    theta_names = colnames(s$theta), fixef_names = colnames(s$fixef),
    lme4 = as.character(packageVersion("lme4")))
}
out <- list()
out$sleepstudy <- one(lmer(Reaction ~ Days + (Days | Subject), sleepstudy))
out$sleepstudy_ml <- one(lmer(Reaction ~ Days + (Days | Subject), sleepstudy, REML = FALSE))
out$dyestuff2 <- one(lmer(Yield ~ 1 + (1 | Batch), Dyestuff2))            # singular
out$penicillin <- one(lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin))
out$cbpp <- one(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp,
                      family = binomial))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "all_fit.json")
