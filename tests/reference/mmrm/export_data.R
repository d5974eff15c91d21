# Export mmrm's example data sets (openpharma/mmrm, Apache-2.0, data/*.rda at commit
# ec290b2695b25057b31bc98e27c39d3f498cd0d6) to CSV with base R only (no mmrm package).
# Usage: Rscript export_data.R <dir holding fev_data.rda and bcva_data.rda> <out dir>
args <- commandArgs(trailingOnly = TRUE)
src <- args[1]
out <- args[2]
for (name in c("fev_data", "bcva_data")) {
  env <- new.env()
  load(file.path(src, paste0(name, ".rda")), envir = env)
  d <- get(name, envir = env)
  # factor level orders are kept in a sidecar file so that Python can restore them
  lv <- Filter(Negate(is.null), lapply(d, levels))
  writeLines(vapply(names(lv), function(n) paste(n, paste(lv[[n]], collapse = "\t"), sep = "\t"),
                    ""), file.path(out, paste0(name, "_levels.tsv")))
  write.csv(d, file.path(out, paste0(name, ".csv")), row.names = FALSE, na = "")
}
