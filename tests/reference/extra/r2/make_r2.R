# performance::r2_nakagawa and performance::icc reference values
# (R 4.2.2, lme4 1.1-31, performance 0.10.2, insight 0.19.0 — Debian's packages).
# Run: Rscript make_r2.R -> r2.json, epil.csv (MASS's epil, the Thall & Vail epilepsy data)
suppressMessages({library(lme4); library(performance); library(insight); library(jsonlite)
                  library(MASS); library(nlme, include.only = "Orthodont")})
stopifnot(packageVersion("performance") == "0.10.2", packageVersion("insight") == "0.19.0")
epil <- MASS::epil
write.csv(epil[, c("y", "trt", "base", "age", "V4", "subject", "period", "lbase", "lage")],
          "epil.csv", row.names = FALSE)
epil <- read.csv("epil.csv", stringsAsFactors = TRUE)
epil$subject <- factor(epil$subject)
orth <- as.data.frame(nlme::Orthodont)
orth$Subject <- factor(as.character(orth$Subject))
gt <- lme4::grouseticks
sleep01 <- sleepstudy
sleep01$slow <- as.integer(sleep01$Reaction > 300)
data_of <- list(sleepstudy = sleepstudy, sleep01 = sleep01, Penicillin = Penicillin, cbpp = cbpp,
                grouseticks = gt, epil = epil, Orthodont = orth)
fits <- list(
  list(formula = "Reaction ~ Days + (1 | Subject)", data = "sleepstudy", family = "gaussian"),
  list(formula = "Reaction ~ Days + (Days | Subject)", data = "sleepstudy", family = "gaussian"),
  list(formula = "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", data = "sleepstudy",
       family = "gaussian"),
  list(formula = "Reaction ~ 1 + (Days | Subject)", data = "sleepstudy", family = "gaussian"),
  list(formula = "slow ~ Days + (1 | Subject)", data = "sleep01", family = "binomial"),
  list(formula = "incidence ~ period + offset(log(size)) + (1 | herd)", data = "cbpp",
       family = "poisson"),
  list(formula = "diameter ~ 1 + (1 | plate) + (1 | sample)", data = "Penicillin",
       family = "gaussian"),
  list(formula = "distance ~ age * Sex + (age | Subject)", data = "Orthodont",
       family = "gaussian"),
  list(formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)", data = "cbpp",
       family = "binomial"),
  list(formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)", data = "cbpp",
       family = "binomial", link = "probit"),
  list(formula = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)", data = "grouseticks",
       family = "poisson"),
  list(formula = "y ~ lbase + trt + lage + V4 + (1 | subject)", data = "epil",
       family = "poisson"),
  list(formula = "y ~ lbase * trt + lage + V4 + (1 | subject)", data = "epil",
       family = "poisson"),
  list(formula = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD)", data = "grouseticks",
       family = "negative_binomial"),
  list(formula = "y ~ lbase + trt + lage + V4 + (1 | subject)", data = "epil",
       family = "negative_binomial"))
out <- lapply(fits, function(f) {
  d <- data_of[[f$data]]
  fo <- as.formula(f$formula)
  m <- switch(f$family,
    gaussian = lmer(fo, d),
    binomial = glmer(fo, d, family = binomial(link = if (is.null(f$link)) "logit" else f$link)),
    poisson = glmer(fo, d, family = poisson),
    negative_binomial = glmer.nb(fo, d))
  v <- suppressWarnings(get_variance(m))
  r <- suppressWarnings(r2_nakagawa(m))
  i <- suppressWarnings(icc(m))
  ib <- suppressWarnings(icc(m, by_group = TRUE))      # NULL for a singular fit
  c(f, list(conditional = unname(r$R2_conditional), marginal = unname(r$R2_marginal),
            ICC_adjusted = i$ICC_adjusted, ICC_conditional = i$ICC_conditional,
            var_fixed = v$var.fixed, var_random = v$var.random,
            var_residual = v$var.residual,
            nb_theta = if (f$family == "negative_binomial") getME(m, "glmer.nb.theta") else NA,
            icc_by_group = if (is.data.frame(ib)) list(Group = I(ib$Group), ICC = I(ib$ICC)) else NA,
            fixef = as.list(fixef(m))))
})
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), "r2.json")
