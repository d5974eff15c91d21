# Reference values for glmer_nb's theta search (issue 18, part 5): lme4's glmer.nb on
#  - tiny6.csv: 200 rows, s ~ sqrt(t) + (x | g/h) + I(x - 2), offset off (6 theta; the data
#    of tests/glmm/test_negbin_search.py, numpy seed 3, Poisson counts);
#  - nb20.csv: 200 rows, s ~ sqrt(t) + (x*z | g/h) + I(x*z - 2), offset off (20 theta, the
#    fuzz case of the issue rebuilt with negative binomial counts, theta = 2; numpy seed 3).
# Run: Rscript make_nb_search.R  (writes nb_search.json beside this script; the 20-theta
# fit takes minutes)
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
one <- function(file, formula) {
  d <- read.csv(file)
  d$g <- factor(d$g); d$h <- factor(d$h)
  cpu <- system.time(m <- glmer.nb(formula, data = d, offset = off))[["user.self"]]
  list(loglik = as.numeric(logLik(m)), nb_theta = getME(m, "glmer.nb.theta"),
       refits = attr(m, "nevals"), theta = unname(getME(m, "theta")),
       fixef = unname(fixef(m)), singular = isSingular(m), cpu_seconds = cpu,
       lme4 = as.character(packageVersion("lme4")))
}
out <- list(tiny6 = one("tiny6.csv", s ~ sqrt(t) + (x | g/h) + I(x - 2)),
            nb20 = one("nb20.csv", s ~ sqrt(t) + (x*z | g/h) + I(x*z - 2)))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "nb_search.json")
