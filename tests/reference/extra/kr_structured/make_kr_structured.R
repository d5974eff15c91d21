# Kenward-Roger references for structured models, from pbkrtest on lme4 models that are
# reparameterizations of them (KR is invariant to a linear reparameterization of Sigma):
#   lmer(y ~ x + trt + (1|g), correlation = cor_comp_symm("~ 1 | h"))  ==  (1|g) + (1|h)
#   lmer(y ~ x + trt + homcs(0 + f | g))                                 ==  (1|g) + (1|h)
#   lmer(y ~ x + trt + (1|g), weights = var_ident("~ 1 | s"))             ==  (1|g) + (0 + sB|obs)
#   lmer(y ~ x + trt + diag(x | g))                                        ==  (x || g)
# Run: Rscript make_kr_structured.R  (writes kr_data.csv and kr_structured.json)
suppressPackageStartupMessages({library(lme4); library(pbkrtest); library(jsonlite)})
set.seed(20261129)
G <- 12; F <- 4; R <- 4
d <- expand.grid(rep = 1:R, f = paste0("p", 1:F), g = sprintf("g%02d", 1:G))
d$h <- paste(d$g, d$f, sep = ":")
d$trt <- ifelse(as.integer(factor(d$g)) %% 2 == 0, "B", "A")
d$s <- ifelse(d$rep %% 2 == 0, "hi", "lo")
d$x <- round(rnorm(nrow(d)), 4)
bg <- rnorm(G, 0, 1.2)[as.integer(factor(d$g))]
bx <- rnorm(G, 0, 0.5)[as.integer(factor(d$g))]
bh <- rnorm(G * F, 0, 0.8)[as.integer(factor(d$h))]
d$y <- round(2 + 0.6 * d$x + 0.9 * (d$trt == "B") + bg + bx * d$x + bh +
             rnorm(nrow(d), 0, ifelse(d$s == "hi", 1.7, 0.9)), 4)
d$obs <- factor(seq_len(nrow(d)))
d$sB <- as.numeric(d$s == "hi")
write.csv(d[, c("y", "x", "trt", "g", "f", "h", "s", "rep")], "kr_data.csv", row.names = FALSE)

ctrl <- lmerControl(check.nobs.vs.nlev = "ignore", check.nobs.vs.nRE = "ignore")
one <- function(m, drop) {
  V <- vcovAdj(m)
  p <- length(fixef(m))
  ddf <- sapply(seq_len(p), function(j) { L <- matrix(0, 1, p); L[j] <- 1; Lb_ddf(L, vcov(m), V) })
  kr <- KRmodcomp(m, drop)$test
  list(loglik = as.numeric(logLik(m)), beta = unname(fixef(m)),
       vcov = unname(as.matrix(vcov(m))), vcov_adj = unname(as.matrix(V)),
       coef_names = names(fixef(m)), ddf = unname(ddf),
       F_drop_trt = list(F = kr["Ftest", "stat"], ndf = kr["Ftest", "ndf"],
                         ddf = kr["Ftest", "ddf"], p = kr["Ftest", "p.value"]))
}
mods <- list(
  cs_nested = lmer(y ~ x + trt + (1 | g) + (1 | h), d),
  var_ident = lmer(y ~ x + trt + (1 | g) + (0 + sB | obs), d, control = ctrl),
  diag = lmer(y ~ x + trt + (x || g), d)
)
out <- lapply(mods, function(m) one(m, update(m, . ~ . - trt)))
out$versions <- list(lme4 = as.character(packageVersion("lme4")),
                     pbkrtest = as.character(packageVersion("pbkrtest")),
                     R = R.version.string)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "kr_structured.json")
