# summary(aov(y ~ ... + Error(...))) reference tables and printed text (R 4.2.2, stats).
# Run: Rscript make_aov.R -> aov.json, npk.csv (R's npk), rm2.csv (a simulated two-way
# within-subject design), co2.csv (R's CO2: between Type/Treatment, within conc)
suppressMessages(library(jsonlite))
write.csv(npk, "npk.csv", row.names = FALSE)
set.seed(23)
rm2 <- expand.grid(A = c("a1", "a2", "a3"), B = c("b1", "b2"), subject = sprintf("s%02d", 1:8))
subj <- rnorm(8, sd = 3)[as.integer(factor(rm2$subject))]
rm2$y <- round(10 + subj + c(0, 1.5, 2)[as.integer(rm2$A)] + c(0, 1)[as.integer(rm2$B)] +
               rnorm(nrow(rm2), sd = 1.2), 2)
write.csv(rm2, "rm2.csv", row.names = FALSE)
co2 <- as.data.frame(CO2)
co2$Plant <- as.character(co2$Plant); co2$Type <- as.character(co2$Type)
co2$Treatment <- as.character(co2$Treatment); co2$fconc <- as.character(co2$conc)
write.csv(co2[, c("Plant", "Type", "Treatment", "fconc", "uptake")], "co2.csv", row.names = FALSE)
npk <- read.csv("npk.csv", stringsAsFactors = TRUE)
for (v in c("block", "N", "P", "K")) npk[[v]] <- factor(npk[[v]])
rm2 <- read.csv("rm2.csv", stringsAsFactors = TRUE)
co2 <- read.csv("co2.csv", stringsAsFactors = TRUE)
co2$fconc <- factor(co2$fconc, levels = c("95", "175", "250", "350", "500", "675", "1000"))
hsb <- read.csv(gzfile("../../data/HSB.csv.gz"), stringsAsFactors = TRUE)
hsb$school <- factor(hsb$school)
rm2m <- rm2
rm2m$y[c(5, 17)] <- NA                 # unbalanced: rows 5 and 17 dropped by na.omit
data_of <- list(npk = npk, rm2 = rm2, rm2m = rm2m, co2 = co2, hsb = hsb)
cases <- list(
  list(key = "rm2_AxB", formula = "y ~ A * B + Error(subject / (A * B))", data = "rm2"),
  list(key = "rm2_missing", formula = "y ~ A * B + Error(subject / (A * B))", data = "rm2m"),
  list(key = "rm2_A", formula = "y ~ A + Error(subject / A)", data = "rm2"),
  list(key = "npk_block", formula = "yield ~ N * P * K + Error(block)", data = "npk"),
  list(key = "npk_NP", formula = "yield ~ N + P + K + Error(block)", data = "npk"),
  list(key = "co2_split", formula = "uptake ~ Type * Treatment * fconc + Error(Plant / fconc)",
       data = "co2"),
  list(key = "hsb_oneway", formula = "mathach ~ 1 + Error(school)", data = "hsb"),
  list(key = "hsb_sector", formula = "mathach ~ sector + Error(school)", data = "hsb"))
out <- list()
for (cs in cases) {
  fit <- aov(as.formula(cs$formula), data = data_of[[cs$data]])
  s <- summary(fit)
  tabs <- lapply(s, function(t) {
    t <- as.data.frame(t[[1]])
    list(rows = trimws(rownames(t)), Df = t$Df, SumSq = t[["Sum Sq"]], MeanSq = t[["Mean Sq"]],
         F = if (is.null(t[["F value"]])) NULL else t[["F value"]],
         P = if (is.null(t[["Pr(>F)"]])) NULL else t[["Pr(>F)"]])
  })
  out[[cs$key]] <- list(case = cs, strata = names(s), tables = unname(tabs),
                        printed = capture.output(print(s)))
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), "aov.json")
