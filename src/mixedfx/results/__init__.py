"""The fitted-model classes users hold (`lmer`, `glmer`, `gls` results), their summaries and
printouts (lme4's and nlme's layouts, notebook HTML), `update` and the call; they save
themselves through `mixedfx.fitted.saving` (read back by `mixedfx.loading`).
Nothing is imported here: the entry points in `mixedfx.api` import the classes they build."""
