# nlme's reference stratum of varIdent when the correlation grouping (Dog/Side) is finer
# than the outer random-effect grouping (issue 23 item 10). nlme sorts the rows by the
# grouping of the correlation structure / the random effects and takes the first stratum
# met as the reference. Run: Rscript make_pixel_varident.R
suppressMessages({library(nlme); library(jsonlite)})
P <- as.data.frame(Pixel)
P$Dog <- factor(as.character(P$Dog), levels = levels(Pixel$Dog))
P$Side <- factor(as.character(P$Side), levels = levels(Pixel$Side))
write.csv(P, "pixel.csv", row.names = FALSE)
one <- function(m) list(
  logLik = as.numeric(logLik(m)), sigma = m$sigma, fixef = as.list(fixef(m)),
  var_ident = as.list(coef(m$modelStruct$varStruct, unconstrained = FALSE)),
  cor = as.list(coef(m$modelStruct$corStruct, unconstrained = FALSE)),
  reference = attr(m$modelStruct$varStruct, "groupNames")[1],
  strata_order = unique(as.character(m$modelStruct$varStruct |> attr("groups"))))
m1 <- lme(pixel ~ day + I(day^2), random = ~ day | Dog, data = P,
          correlation = corCompSymm(form = ~ 1 | Dog/Side),
          weights = varIdent(form = ~ 1 | Side))
m2 <- lme(pixel ~ day + I(day^2), random = list(Dog = ~ day, Side = ~ 1), data = P,
          weights = varIdent(form = ~ 1 | Side))
P2 <- P[order(P$Side == "L"), ]          # rows start with Side R
m3 <- lme(pixel ~ day + I(day^2), random = ~ day | Dog, data = P2,
          correlation = corCompSymm(form = ~ 1 | Dog/Side),
          weights = varIdent(form = ~ 1 | Side))
out <- list(cor_finer = one(m1), nested_random = one(m2), cor_finer_reordered = one(m3),
            versions = list(nlme = as.character(packageVersion("nlme"))))
write_json(out, "pixel_varident.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
