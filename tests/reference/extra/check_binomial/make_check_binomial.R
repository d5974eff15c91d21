# performance's check_model on a Bernoulli GLMM (issue 23 item 13): the data check_model
# computes (names), performance::binned_residuals (the "Binned residuals" panel) and the VIFs
# of check_collinearity. Simulated data: 40 groups of 15, two numeric predictors.
# Run: Rscript make_check_binomial.R
suppressMessages({library(lme4); library(performance); library(jsonlite)})
set.seed(23)
n_g <- 40; k <- 15
d <- data.frame(g = factor(rep(sprintf("g%02d", 1:n_g), each = k)),
                x1 = round(rnorm(n_g * k), 4), x2 = round(runif(n_g * k, -1, 1), 4))
d$x2 <- round(d$x2 + 0.5 * d$x1, 4)
b <- rnorm(n_g, 0, 0.8)
eta <- -0.3 + 0.9 * d$x1 - 0.7 * d$x2 + b[as.integer(d$g)]
d$y <- rbinom(nrow(d), 1, plogis(eta))
write.csv(d, "check_binomial.csv", row.names = FALSE)
m <- glmer(y ~ x1 + x2 + (1 | g), d, family = binomial)
br <- performance::binned_residuals(m)
vif <- performance::check_collinearity(m)
out <- list(
  fixef = as.list(fixef(m)),
  check_model_data = names(check_model(m, panel = FALSE, verbose = FALSE)),
  binned = list(xbar = br$xbar, ybar = br$ybar, n = br$n, se = br$se,
                CI_low = br$CI_low, CI_high = br$CI_high, group = br$group),
  vif = list(Term = vif$Term, VIF = vif$VIF, VIF_CI_low = vif$VIF_CI_low,
             VIF_CI_high = vif$VIF_CI_high),
  versions = list(lme4 = as.character(packageVersion("lme4")),
                  performance = as.character(packageVersion("performance"))))
write_json(out, "check_binomial.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
