# glmmTMB reference fits for the random-effect covariance structures (issue 7, parts 1 and 4).
# R 4.2.2, glmmTMB 1.1.5 (TMB 1.9.2), nlme 3.1-162. Run from this folder:
#   Rscript make_structures_tmb.R        -> structures_tmb.json
# Data: the gzip CSVs in ../data and gamma_sim.csv here (the files the tests read).
# glmmTMB 1.1.5 has the structures us, diag, cs (heterogeneous), ar1 (one SD), toep
# (heterogeneous SDs, one correlation per lag); homcs (one SD, one correlation) is not in this
# version, so its reference is nlme::lme with pdCompSymm, the same model.
# glmmTMB's Gamma family: shape = 1/sigma^2, i.e. sigma(m) is the coefficient of variation and
# the GLM dispersion phi = sigma^2; dispersion estimated by maximum likelihood.
suppressMessages({library(glmmTMB); library(nlme); library(jsonlite)})

rd <- function(f) read.csv(gzfile(file.path("..", "data", f)), stringsAsFactors = FALSE)
sleep <- rd("sleepstudy.csv.gz"); sleep$Subject <- factor(sleep$Subject)
sleep$fDays <- factor(sleep$Days)
pastes <- rd("Pastes.csv.gz"); pastes$batch <- factor(pastes$batch); pastes$cask <- factor(pastes$cask)
gpa <- rd("gpa.csv.gz"); gpa$student <- factor(gpa$student); gpa$occas <- factor(gpa$occas)
va <- rd("VerbAgg.csv.gz"); va$id <- factor(va$id); va$btype <- factor(va$btype)
va$Gender <- factor(va$Gender); va$situ <- factor(va$situ)
va <- va[va$id %in% levels(va$id)[1:120], ]; va$id <- droplevels(va$id)
gs <- read.csv("gamma_sim.csv"); gs$g <- factor(gs$g)
datasets <- list(sleepstudy = sleep, Pastes = pastes, gpa = gpa, VerbAgg_120 = va, gamma_sim = gs)

vc_list <- function(m) {
  vc <- VarCorr(m)$cond
  lapply(names(vc), function(nm) {
    x <- vc[[nm]]
    code <- attr(x, "blockCode")
    st <- names(glmmTMB:::.valid_covstruct)[match(code, glmmTMB:::.valid_covstruct)]
    list(group = nm, structure = st, terms = colnames(x), sd = unname(attr(x, "stddev")),
         corr = unname(as.matrix(attr(x, "correlation"))), cov = unname(as.matrix(x)))
  })
}
re_list <- function(m) {
  re <- ranef(m)$cond
  lapply(setNames(names(re), names(re)), function(nm) {
    x <- re[[nm]]
    list(levels = rownames(x), terms = colnames(x), values = unname(as.matrix(x)))
  })
}
rec_tmb <- function(id, data_name, formula, REML = FALSE, family = "gaussian", link = "identity",
                    identified = NULL, note = NULL) {
  fam <- switch(family, gaussian = gaussian(), binomial = binomial(),
                Gamma = Gamma(link = link))
  call_text <- sprintf("glmmTMB(%s, data = %s, family = %s%s)", formula, data_name,
                       if (family == "Gamma") sprintf("Gamma(link = \"%s\")", link) else family,
                       if (REML) ", REML = TRUE" else "")
  t0 <- proc.time()[["elapsed"]]
  m <- glmmTMB(as.formula(formula), data = datasets[[data_name]], family = fam, REML = REML)
  el <- proc.time()[["elapsed"]] - t0
  out <- list(id = id, engine = "glmmTMB::glmmTMB", r_call = call_text, data = data_name,
              formula = formula, REML = REML, family = family, link = link,
              nobs = nobs(m), loglik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
              fixef = as.list(fixef(m)$cond),
              fixef_se = as.list(sqrt(diag(vcov(m)$cond))),
              sigma = sigma(m), varcorr = vc_list(m), ranef = re_list(m),
              convergence = m$fit$convergence, pdHess = m$sdr$pdHess, timing_r_seconds = el)
  if (!is.null(identified)) out$identified_only <- identified
  if (!is.null(note)) out$note <- note
  cat(id, ": logLik", out$loglik, " pdHess", out$pdHess, " ", el, "s\n")
  out
}

fits <- list()
skipped <- list()
add <- function(x) fits[[length(fits) + 1]] <<- x
# a fit glmmTMB cannot complete (error, or NA log-likelihood / non-positive-definite Hessian)
# is recorded in `skipped` with the reason instead of as a reference
try_add <- function(expr) {
  id <- sub('^[^"]*"([^"]*)".*$', "\\1", paste(deparse(substitute(expr)), collapse = " "))
  r <- tryCatch(expr, error = function(e) conditionMessage(e))
  if (is.character(r)) {
    skipped[[length(skipped) + 1]] <<- list(id = id, reason = r)
  } else if (is.na(r$loglik) || !isTRUE(r$pdHess)) {
    skipped[[length(skipped) + 1]] <<- list(id = r$id, reason = "NA logLik or non-positive-definite Hessian")
  } else add(r)
}
# --- sleepstudy: diag and cs on (Days | Subject), ar1 over the ten days --------------------
for (reml in c(FALSE, TRUE)) {
  sfx <- if (reml) "reml" else "ml"
  try_add(rec_tmb(paste0("sleep_us_", sfx), "sleepstudy", "Reaction ~ Days + us(Days | Subject)", reml))
  try_add(rec_tmb(paste0("sleep_diag_", sfx), "sleepstudy", "Reaction ~ Days + diag(Days | Subject)", reml))
  try_add(rec_tmb(paste0("sleep_cs_", sfx), "sleepstudy", "Reaction ~ Days + cs(Days | Subject)", reml))
  try_add(rec_tmb(paste0("sleep_ar1_", sfx), "sleepstudy",
              "Reaction ~ Days + ar1(0 + fDays | Subject)", reml))
}
# --- Pastes: casks within batches, two samples each (identified structures) -----------------
for (reml in c(FALSE, TRUE)) {
  sfx <- if (reml) "reml" else "ml"
  try_add(rec_tmb(paste0("pastes_diag_", sfx), "Pastes", "strength ~ 1 + diag(0 + cask | batch)", reml))
  try_add(rec_tmb(paste0("pastes_cs_", sfx), "Pastes", "strength ~ 1 + cs(0 + cask | batch)", reml))
  try_add(rec_tmb(paste0("pastes_ar1_", sfx), "Pastes", "strength ~ 1 + ar1(0 + cask | batch)", reml))
  try_add(rec_tmb(paste0("pastes_toep_", sfx), "Pastes", "strength ~ 1 + toep(0 + cask | batch)", reml))
  try_add(rec_tmb(paste0("pastes_ar1_plus_", sfx), "Pastes",
              "strength ~ 1 + ar1(0 + cask | batch) + (1 | batch)", reml))
}
# --- gpa: the issue's models, plus toep and cs (one row per student-occasion cell: only
#     loglik, fixed effects and SEs are identified when a heterogeneous structure meets sigma)
try_add(rec_tmb("gpa_diag_ml", "gpa", "gpa ~ occasion + (1 | student) + diag(0 + occas | student)",
            identified = c("loglik", "fixef", "fixef_se")))
try_add(rec_tmb("gpa_ar1_ml", "gpa", "gpa ~ occasion + ar1(0 + occas | student) + (1 | student)"))
try_add(rec_tmb("gpa_ar1_reml", "gpa", "gpa ~ occasion + ar1(0 + occas | student) + (1 | student)",
            REML = TRUE))
try_add(rec_tmb("gpa_toep_ml", "gpa", "gpa ~ occasion + toep(0 + occas | student)",
            identified = c("loglik", "fixef", "fixef_se", "corr_pattern_only"),
            note = "toep SDs and sigma are confounded (one row per cell); total variances sd^2 + sigma^2 are identified"))
try_add(rec_tmb("gpa_cs_ml", "gpa", "gpa ~ occasion + cs(0 + occas | student)",
            identified = c("loglik", "fixef", "fixef_se")))
# --- a diag term in a binomial GLMM (VerbAgg, first 120 respondents) ----------------------
try_add(rec_tmb("verbagg_diag_binomial", "VerbAgg_120", "r2 ~ Anger + btype + diag(0 + btype | id)",
            family = "binomial", link = "logit"))
try_add(rec_tmb("verbagg_ar1_binomial", "VerbAgg_120", "r2 ~ Anger + btype + ar1(0 + btype | id)",
            family = "binomial", link = "logit"))
# --- Gamma GLMMs with the dispersion by maximum likelihood -------------------------------
try_add(rec_tmb("gamma_log_ml", "gamma_sim", "y ~ x + (1 | g)", family = "Gamma", link = "log"))
try_add(rec_tmb("gamma_inverse_ml", "gamma_sim", "y ~ x + (1 | g)", family = "Gamma", link = "inverse"))
try_add(rec_tmb("gamma_log_diag_ml", "gamma_sim", "y ~ x + diag(1 + x | g)", family = "Gamma", link = "log"))

# --- homcs (not in glmmTMB 1.1.5): nlme's pdCompSymm is the same model ----------------------
rec_lme <- function(id, data_name, fixed, random, method, formula, random_text) {
  m <- lme(fixed, random = random, data = datasets[[data_name]], method = method)
  v0 <- getVarCov(m); vc <- matrix(as.numeric(v0), nrow(v0), dimnames = dimnames(v0))
  sd <- sqrt(diag(vc)); corr <- vc / outer(sd, sd)
  re <- ranef(m)
  list(id = id, engine = "nlme::lme", data = data_name, formula = formula,
       r_call = sprintf("lme(%s, random = %s, data = %s, method = \"%s\")",
                        deparse(fixed), random_text, data_name, method),
       REML = method == "REML", family = "gaussian", link = "identity",
       nobs = nobs(m), loglik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
       fixef = as.list(fixef(m)), fixef_se = as.list(sqrt(diag(vcov(m)))), sigma = m$sigma,
       varcorr = list(list(group = names(m$groups)[1], structure = "homcs",
                           terms = colnames(vc), sd = unname(sd), corr = unname(corr),
                           cov = unname(vc))),
       ranef = setNames(list(list(levels = rownames(re), terms = colnames(re),
                                  values = unname(as.matrix(re)))), names(m$groups)[1]))
}
for (meth in c("ML", "REML")) {
  add(rec_lme(paste0("pastes_homcs_", tolower(meth)), "Pastes", strength ~ 1,
              list(batch = pdCompSymm(~ 0 + cask)), meth, "strength ~ 1 + homcs(0 + cask | batch)",
              "list(batch = pdCompSymm(~ 0 + cask))"))
  add(rec_lme(paste0("sleep_homcs_", tolower(meth)), "sleepstudy", Reaction ~ Days,
              list(Subject = pdCompSymm(~ Days)), meth, "Reaction ~ Days + homcs(Days | Subject)",
              "list(Subject = pdCompSymm(~ Days))"))
}

out <- list(description = "glmmTMB 1.1.5 / nlme fits of random-effect covariance structures and ML-dispersion Gamma GLMMs (make_structures_tmb.R)",
            versions = list(R = R.version.string, glmmTMB = as.character(packageVersion("glmmTMB")),
                            TMB = as.character(packageVersion("TMB")), nlme = as.character(packageVersion("nlme"))),
            notes = c("VerbAgg_120: the rows of the first 120 levels of id (as read from VerbAgg.csv.gz, id a factor with levels sorted numerically)",
                      "sleepstudy fDays = factor(Days); gpa occas factor with sorted levels",
                      "glmmTMB Gamma sigma = coefficient of variation; dispersion phi = sigma^2",
                      "identified_only: fields that are identified (others are one point on a flat ridge)"),
            fits = fits, skipped = skipped)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "structures_tmb.json")
