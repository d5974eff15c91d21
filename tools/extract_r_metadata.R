# Extract column types and factor level orders of the bundled data sets from R.
#
# Usage (from the repository root, with R, lme4, nlme and jsonlite installed):
#   Rscript tools/extract_r_metadata.R [reference_data_dir] [doubles_dir] [tutorial_dir]
#                                      [tutorial_csv_dir]
#
# tutorial_dir holds the .RData files of M. Clark's "Mixed Models with R" tutorial
# (https://github.com/m-clark/mixed-models-with-R, folder data/, commit aea3c381; default
# /work/shared/refgen_sources/mixed-models-with-R, with sociometric.RData copied from that
# folder). Those data sets are written as CSV to tutorial_csv_dir (default
# /tmp/mixedfx_tutorial_csv), from where tools/build_datasets.py --tutorial-dir reads them.
#
# Writes tools/r_metadata.json, which tools/build_datasets.py reads.  It also checks
# that every reference CSV holds the same values as R's own data set (after the
# documented recodings), so the bundled files can be trusted to be R's data.
#
# R's own number parser (R_strtod) is not always correctly rounded, so the check above
# cannot see a CSV value that R reads back as its double but a correctly rounding parser
# (Python, C) reads as the neighbouring double.  Therefore the exact doubles of every
# non-integer numeric column are also written in hexadecimal ("%a") to
# doubles_dir/<name>.csv (default /tmp/mixedfx_r_doubles); pass that directory to
# `python tools/build_datasets.py --r-doubles DIR` to verify the bundled values bit for bit.
suppressPackageStartupMessages({
  library(lme4)
  library(nlme)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
ref_dir <- if (length(args) >= 1) args[[1]] else "/work/shared/reference/data"
dbl_dir <- if (length(args) >= 2) args[[2]] else "/tmp/mixedfx_r_doubles"
tut_dir <- if (length(args) >= 3) args[[3]] else "/work/shared/refgen_sources/mixed-models-with-R"
tut_csv <- if (length(args) >= 4) args[[4]] else "/tmp/mixedfx_tutorial_csv"
dir.create(dbl_dir, showWarnings = FALSE, recursive = TRUE)
dir.create(tut_csv, showWarnings = FALSE, recursive = TRUE)

# A tutorial data set as a plain data frame: SPSS labels and haven's 'labelled' class
# dropped (values unchanged), written to tut_csv with 15 significant digits (the values are
# short decimals; the doubles are verified bit for bit by build_datasets.py --r-doubles).
tutorial <- function(name) {
  e <- new.env()
  load(file.path(tut_dir, paste0(name, ".RData")), envir = e)
  d <- as.data.frame(e[[name]])
  for (cn in names(d)) {
    x <- d[[cn]]
    attr(x, "label") <- NULL; attr(x, "format.spss") <- NULL; attr(x, "labels") <- NULL
    if (inherits(x, "labelled") || inherits(x, "haven_labelled")) x <- unclass(x)
    d[[cn]] <- x
  }
  rownames(d) <- NULL
  write.csv(d, file.path(tut_csv, paste0(name, ".csv")), row.names = FALSE, na = "")
  d
}

# High School and Beyond, built as in the reference cases (base R instead of dplyr;
# aggregate() sorts by School like group_by() does, and merge() gives the same rows).
build_hsb <- function() {
  temp <- aggregate(SES ~ School, data = as.data.frame(MathAchieve), FUN = mean)
  names(temp)[2] <- "mean.ses"
  temp$School <- factor(as.character(temp$School))
  temp <- merge(MathAchSchool, temp, by = "School")
  ma <- as.data.frame(MathAchieve)
  hsb <- merge(temp[, c("School", "Sector", "mean.ses", "Size", "HIMINTY")],
               ma[, c("School", "Sex", "SES", "MathAch", "Minority")], by = "School")
  names(hsb) <- tolower(names(hsb))
  hsb$cses <- hsb$ses - hsb$mean.ses
  hsb$sector <- factor(hsb$sector, levels = c("Public", "Catholic"))
  names(hsb)[names(hsb) == "mean.ses"] <- "meanses"
  hsb
}

# The reference cases' simulated random-slopes data (seed 10; R's runif / rnorm streams).
build_biomass <- function() {
  set.seed(10)
  data <- data.frame(Temp = runif(100, -2, 2), N = runif(100, -2, 2),
                     Site = gl(n = 20, k = 5, labels = paste0("Site", 1:20)))
  params <- c(10, 0.3, 2.2)
  rnd_int <- rnorm(20, 0, 1.2)
  rnd_slp <- rnorm(20, 0, 0.5)
  mus <- params[1] + rnd_int[data$Site] + (params[2] + rnd_slp[data$Site]) * data$Temp +
    params[3] * data$N
  data$Biomass <- rnorm(100, mus, 1)
  data
}

datasets <- list(
  sleepstudy = list(df = lme4::sleepstudy, csv = "sleepstudy.csv", pkg = "lme4"),
  Dyestuff = list(df = lme4::Dyestuff, csv = "Dyestuff.csv", pkg = "lme4"),
  Dyestuff2 = list(df = lme4::Dyestuff2, csv = "Dyestuff2.csv", pkg = "lme4"),
  Penicillin = list(df = lme4::Penicillin, csv = "Penicillin.csv", pkg = "lme4"),
  Pastes = list(df = lme4::Pastes, csv = "Pastes.csv", pkg = "lme4"),
  InstEval = list(df = lme4::InstEval, csv = "InstEval.csv", pkg = "lme4"),
  cbpp = list(df = lme4::cbpp, csv = "cbpp.csv", pkg = "lme4"),
  grouseticks = list(df = lme4::grouseticks, csv = "grouseticks.csv", pkg = "lme4"),
  VerbAgg = list(df = lme4::VerbAgg, csv = "VerbAgg.csv", pkg = "lme4"),
  Orthodont = list(df = as.data.frame(nlme::Orthodont), csv = "Orthodont.csv", pkg = "nlme"),
  hsb = list(df = build_hsb(), csv = "HSB.csv", pkg = "nlme"),
  gpa = list(df = tutorial("gpa"), csv = "gpa.csv", dir = tut_csv, pkg = NA),
  nurses = list(df = tutorial("nurses"), csv = "nurses.csv", dir = tut_csv, pkg = NA),
  pupils = list(df = tutorial("pupils"), csv = "pupils.csv", dir = tut_csv, pkg = NA),
  sociometric = list(df = tutorial("sociometric"), csv = "sociometric.csv", dir = tut_csv,
                     pkg = NA),
  biomass_sim = list(df = build_biomass(), csv = "biomass_sim.csv", pkg = NA)
)

r_type <- function(x) {
  if (is.ordered(x)) "ordered factor"
  else if (is.factor(x)) "factor"
  else if (is.logical(x)) "logical"
  else if (is.integer(x)) "integer"
  else if (is.numeric(x)) "numeric"
  else if (is.character(x)) "character"
  else stop("unsupported column class: ", paste(class(x), collapse = "/"))
}

same_values <- function(r, csv) {
  if (is.factor(r)) return(identical(as.character(r), as.character(csv)))
  if (is.logical(r)) return(identical(r, as.logical(csv)))
  isTRUE(all(r == csv) || (anyNA(r) && identical(is.na(r), is.na(csv)) &&
                            all(r[!is.na(r)] == csv[!is.na(csv)])))
}

out <- list()
ok <- TRUE
for (nm in names(datasets)) {
  d <- datasets[[nm]]$df
  src_dir <- if (is.null(datasets[[nm]]$dir)) ref_dir else datasets[[nm]]$dir
  csv <- read.csv(file.path(src_dir, datasets[[nm]]$csv), stringsAsFactors = FALSE,
                  colClasses = "character")
  cols <- list()
  for (cn in names(d)) {
    x <- d[[cn]]
    entry <- list(r_type = r_type(x))
    if (is.factor(x)) entry$levels <- levels(x)
    # compare with the CSV
    if (!cn %in% names(csv)) {
      message(nm, "$", cn, ": missing from CSV"); ok <- FALSE
    } else {
      v <- csv[[cn]]
      if (is.factor(x) && all(v %in% c("0", "1")) && !all(levels(x) %in% c("0", "1"))) {
        # binary factor recoded to 0/1 in the CSV (1 = second level)
        entry$csv_recoded_01 <- TRUE
        v <- levels(x)[as.integer(v) + 1L]
      } else if (is.factor(x)) {
        v[v == ""] <- NA                     # missing factor values are empty fields
      } else if (!is.character(x)) {
        v <- as.numeric(ifelse(v == "", NA, v))
      }
      if (!same_values(x, v)) { message(nm, "$", cn, ": values differ from CSV"); ok <- FALSE }
    }
    cols[[cn]] <- entry
  }
  dbl <- vapply(d, function(x) is.double(x), logical(1))
  if (any(dbl)) {
    hex <- as.data.frame(lapply(d[dbl], function(x) ifelse(is.na(x), "", sprintf("%a", x))))
    write.csv(hex, file.path(dbl_dir, paste0(nm, ".csv")), row.names = FALSE, quote = FALSE)
  }
  extra <- setdiff(names(csv), names(d))
  if (nrow(csv) != nrow(d)) { message(nm, ": row count differs"); ok <- FALSE }
  pkg <- datasets[[nm]]$pkg
  out[[nm]] <- list(source_package = if (is.na(pkg)) NULL else pkg, nrow = nrow(d),
                    columns = cols, csv_extra_columns = I(extra),
                    r_version = paste(R.version$major, R.version$minor, sep = "."),
                    package_version = if (is.na(pkg)) NULL else packageDescription(pkg)$Version)
  cat(sprintf("%-12s %6d rows, extra CSV columns: %s\n", nm, nrow(d),
              paste(extra, collapse = ", ")))
}
if (!ok) stop("some CSV files do not match R's data sets")
writeLines(toJSON(out, auto_unbox = TRUE, pretty = TRUE),
           file.path("tools", "r_metadata.json"))
cat("wrote tools/r_metadata.json and exact doubles to", dbl_dir, "\n")
