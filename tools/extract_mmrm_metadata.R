# The mmrm package's example data sets fev_data and bcva_data (openpharma/mmrm, Apache
# License 2.0; data/*.rda at commit ec290b2695b25057b31bc98e27c39d3f498cd0d6, mmrm 0.3.18)
# for tools/build_datasets.py, read with base R + jsonlite (the mmrm package is not needed).
#
# Usage (from the repository root):
#   Rscript tools/extract_mmrm_metadata.R <dir holding fev_data.rda, bcva_data.rda> \
#       [csv_dir] [doubles_dir]
#
# Writes csv_dir/<name>.csv (default /tmp/mixedfx_mmrm_csv) with every double printed to 17
# significant digits, so it reads back as R's double exactly (tests/reference/mmrm/*.csv
# from export_data.R have R's default 15 digits), the exact doubles in hexadecimal to
# doubles_dir/<name>.csv (default /tmp/mixedfx_r_doubles; `build_datasets.py --r-doubles`
# verifies the bundled values against them) and tools/r_metadata_mmrm.json (column types,
# factor level orders).
suppressPackageStartupMessages(library(jsonlite))

args <- commandArgs(trailingOnly = TRUE)
rda_dir <- args[[1]]
csv_dir <- if (length(args) >= 2) args[[2]] else "/tmp/mixedfx_mmrm_csv"
dbl_dir <- if (length(args) >= 3) args[[3]] else "/tmp/mixedfx_r_doubles"
for (d in c(csv_dir, dbl_dir)) dir.create(d, showWarnings = FALSE, recursive = TRUE)

r_type <- function(x) {
  if (is.ordered(x)) "ordered factor"
  else if (is.factor(x)) "factor"
  else if (is.logical(x)) "logical"
  else if (is.integer(x)) "integer"
  else if (is.numeric(x)) "numeric"
  else if (is.character(x)) "character"
  else stop("unsupported column class: ", paste(class(x), collapse = "/"))
}

out <- list()
for (nm in c("fev_data", "bcva_data")) {
  env <- new.env()
  load(file.path(rda_dir, paste0(nm, ".rda")), envir = env)
  d <- as.data.frame(get(nm, envir = env))
  text <- as.data.frame(lapply(d, function(x) {
    s <- if (is.double(x)) sprintf("%.17g", x) else as.character(x)
    ifelse(is.na(x), "", s)
  }), check.names = FALSE)
  write.csv(text, file.path(csv_dir, paste0(nm, ".csv")), row.names = FALSE, quote = TRUE)
  back <- read.csv(file.path(csv_dir, paste0(nm, ".csv")), colClasses = "character")
  for (cn in names(d)) {
    x <- d[[cn]]
    v <- back[[cn]]
    v[v == ""] <- NA
    same <- if (is.factor(x) || is.character(x)) identical(as.character(x), v) else
      identical(is.na(x), is.na(v)) && all(x[!is.na(x)] == as.numeric(v[!is.na(v)]))
    if (!same) stop(nm, "$", cn, ": the written CSV does not read back as R's values")
  }
  cols <- lapply(d, function(x) {
    entry <- list(r_type = r_type(x))
    if (is.factor(x)) entry$levels <- levels(x)
    entry
  })
  dbl <- vapply(d, is.double, logical(1))
  hex <- as.data.frame(lapply(d[dbl], function(x) ifelse(is.na(x), "", sprintf("%a", x))))
  write.csv(hex, file.path(dbl_dir, paste0(nm, ".csv")), row.names = FALSE, quote = FALSE)
  out[[nm]] <- list(nrow = nrow(d), columns = cols, csv_extra_columns = I(character(0)),
                    r_version = paste(R.version$major, R.version$minor, sep = "."))
  cat(sprintf("%-10s %6d rows written to %s\n", nm, nrow(d), csv_dir))
}
writeLines(toJSON(out, auto_unbox = TRUE, pretty = TRUE),
           file.path("tools", "r_metadata_mmrm.json"))
cat("wrote tools/r_metadata_mmrm.json\n")
