# Regenerates design_reference.json (R's model.matrix for each line of design_rhs.txt).
# Run from this directory: Rscript make_design_reference.R   (needs jsonlite)
d <- read.csv("design_data.csv", check.names = FALSE)
d$sex <- factor(d$sex, levels = c("F", "M"))
d$sector <- factor(d$sector, levels = c("Public", "Catholic"))
d$f <- factor(d$f, levels = c("c", "a", "b"))
d$temp <- factor(d$temp, levels = c("lo", "mid", "hi", "vhi", "xhi"), ordered = TRUE)
d$b <- as.logical(d$b)
nd <- data.frame(
  x = c(1, 2, 10), z = c(0, 1, 3), age = c(30, 40, 50),
  f = factor(c("a", "b", "a"), levels = c("c", "a", "b")),
  sex = factor(c("M", "F", "M"), levels = c("F", "M")),
  sector = factor(c("Public", "Public", "Catholic"), levels = c("Public", "Catholic")),
  temp = factor(c("hi", "lo", "xhi"), levels = c("lo", "mid", "hi", "vhi", "xhi"), ordered = TRUE),
  b = c(TRUE, FALSE, TRUE), k = c(3L, 1L, 2L), `Sepal.Length` = c(4, 5, 6),
  check.names = FALSE
)
res <- list()
for (r in readLines("design_rhs.txt")) {
  mf <- model.frame(as.formula(paste("~", r)), d)
  tt <- terms(mf)
  m <- model.matrix(tt, mf)
  mn <- model.matrix(tt, model.frame(tt, nd, xlev = .getXlevels(tt, mf)))
  res[[r]] <- list(names = colnames(m), X = unname(m), assign = attr(m, "assign"),
                   term_labels = attr(tt, "term.labels"), newX = unname(mn))
}
jsonlite::write_json(res, "design_reference.json", digits = NA)
