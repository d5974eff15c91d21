# Profiles of the correlations of a 3-column random-effect term, reaching rho = -1 and +1
# (lme4 profile() / confint(method = "profile"), ML fit). Writes profile_boundary.json.
# Data: simulated (seed 1), saved as profile_boundary_sim.csv; the fit reads the CSV.
suppressMessages({library(lme4); library(jsonlite)})
make_data <- function() {
  set.seed(1)
  ng <- 12; n <- 10
  g <- rep(1:ng, each = n); x1 <- rnorm(ng * n); x2 <- rnorm(ng * n)
  S <- matrix(c(1, .7, -.6, .7, 1, -.8, -.6, -.8, 1), 3) * 0.5
  b <- MASS::mvrnorm(ng, c(0, 0, 0), S)
  y <- 1 + 0.5 * x1 - 0.3 * x2 + b[g, 1] + b[g, 2] * x1 + b[g, 3] * x2 + rnorm(ng * n)
  data.frame(y, x1, x2, g = factor(g))
}
if (!file.exists("profile_boundary_sim.csv"))
  write.csv(make_data(), "profile_boundary_sim.csv", row.names = FALSE)
d <- read.csv("profile_boundary_sim.csv"); d$g <- factor(d$g)
m <- lmer(y ~ x1 + x2 + (1 + x1 + x2 | g), d, REML = FALSE)
pr <- suppressWarnings(profile(m, which = "theta_", signames = FALSE))
nm <- names(pr)[2:8]
tabs <- list()
for (p in levels(pr$.par)) {
  rows <- which(pr$.par == p)
  M <- sapply(nm, function(k) pr[[k]][rows])
  # smallest eigenvalue of the correlation matrix at each row: lme4 maps indefinite
  # matrices through a pivoted Cholesky factor (its Sv_to_Cv), so rows with a negative
  # value are not the correlation they show
  e <- apply(M, 1, function(r) {
    C <- diag(3); C[2, 1] <- C[1, 2] <- r[2]; C[3, 1] <- C[1, 3] <- r[3]
    C[3, 2] <- C[2, 3] <- r[5]; min(eigen(C, only.values = TRUE)$values) })
  tabs[[p]] <- list(zeta = pr$.zeta[rows], value = pr[[p]][rows], min_eigen = unname(e))
}
ci <- suppressWarnings(confint(pr, level = 0.95))
out <- list(formula = "y ~ x1 + x2 + (1 + x1 + x2 | g)", REML = FALSE,
            logLik = as.numeric(logLik(m)), names = rownames(ci),
            lower = unname(ci[, 1]), upper = unname(ci[, 2]), profiles = tabs)
write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "profile_boundary.json")
