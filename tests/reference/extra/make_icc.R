# performance::icc reference values (R 4.2.2, lme4 1.1-31, performance 0.10.2).
# Run: Rscript make_icc.R -> icc.json
suppressMessages({library(lme4); library(performance); library(jsonlite)})
fits <- list(
  list(formula = "Reaction ~ Days + (1 | Subject)", data = "sleepstudy"),
  list(formula = "Reaction ~ Days + (Days | Subject)", data = "sleepstudy"),
  list(formula = "diameter ~ 1 + (1 | plate) + (1 | sample)", data = "Penicillin"))
out <- lapply(fits, function(f) {
  m <- lmer(as.formula(f$formula), get(f$data))
  i <- icc(m)
  c(f, list(ICC_adjusted = i$ICC_adjusted, ICC_conditional = i$ICC_conditional))
})
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "icc.json")
