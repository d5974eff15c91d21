# Numbers printed by examples/explore_fitted_model.py and examples/hsb_introduction.py.
# Run from this folder: Rscript make_examples2.R -> examples2.json
# (lme4, lmerTest, performance, RLRsim, merTools; hsb read from the package's bundled CSV).
suppressMessages({library(lme4); library(performance); library(RLRsim); library(merTools)
                  library(jsonlite)})
out <- list()

## (a) exploring a fitted model: sleepstudy with correlated random intercepts and slopes
m <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
out$fixef <- unname(fixef(m))
re <- as.data.frame(ranef(m, condVar = TRUE))
first <- re[re$grp == "308", ]
out$ranef_308 <- first$condval              # (Intercept), Days
out$condsd_308 <- first$condsd
out$ranef_int_range <- range(re$condval[re$term == "(Intercept)"])
ic <- icc(m)
out$icc <- c(ic$ICC_adjusted, ic$ICC_conditional)
r2 <- r2_nakagawa(m)                         # effect sizes: Nakagawa's marginal / conditional R2
out$r2 <- c(r2$R2_marginal[[1]], r2$R2_conditional[[1]])
set.seed(101)
rs <- REsim(m, n.sims = 2000)
r308 <- rs[rs$groupID == "308", ]
out$resim_308_mean <- r308$mean
out$resim_308_sd <- r308$sd
# exact restricted LRT of the random slope (RLRsim's classic sleepstudy test)
mA <- lmer(Reaction ~ Days + (1 | Subject) + (0 + Days | Subject), sleepstudy)
m0 <- lmer(Reaction ~ Days + (1 | Subject), sleepstudy)
ms <- lmer(Reaction ~ Days + (0 + Days | Subject), sleepstudy)
set.seed(1)
rl <- exactRLRT(m = ms, mA = mA, m0 = m0)
out$rlrt <- unname(rl$statistic)
out$rlrt_p <- rl$p.value
# what if every subject had slept-deprived 5 days? (predictions across groups)
nd <- data.frame(Subject = levels(sleepstudy$Subject), Days = 5)
p <- predict(m, newdata = nd)
out$whatif_308 <- unname(p[1])
out$whatif_range <- range(p)
out$whatif_population <- unname(predict(m, newdata = nd[1, ], re.form = NA))

## (b) High School and Beyond: the null (variance components) model
hsb <- read.csv(gzfile("../../../src/mixedfx/datasets/data/hsb.csv.gz"))
hsb$school <- factor(hsb$school)
h0 <- lmer(mathach ~ 1 + (1 | school), hsb)
h0ml <- update(h0, REML = FALSE)
vc <- function(f) as.data.frame(VarCorr(f))$vcov
out$hsb_reml <- c(fixef(h0), vc(h0), REMLcrit(h0))
out$hsb_ml <- c(fixef(h0ml), vc(h0ml), deviance(h0ml))
out$hsb_se <- c(sqrt(vcov(h0)[1, 1]), sqrt(vcov(h0ml)[1, 1]))
out$hsb_icc <- icc(h0)$ICC_adjusted
# shrinkage: conditional school means against the raw school means
n_j <- table(hsb$school)
ybar <- tapply(hsb$mathach, hsb$school, mean)
cm <- coef(h0)$school[, 1]
v <- vc(h0)
lambda <- v[1] / (v[1] + v[2] / as.numeric(n_j))
small <- which.min(n_j)
out$hsb_smallest <- c(as.numeric(n_j[small]), ybar[[small]], cm[small], lambda[small])
out$hsb_smallest_school <- names(n_j)[small]
out$hsb_lambda_range <- range(lambda)
out$hsb_raw_sd <- sd(ybar)
out$hsb_cond_sd <- sd(cm)
writeLines(toJSON(out, digits = NA, pretty = TRUE, auto_unbox = TRUE), "examples2.json")
