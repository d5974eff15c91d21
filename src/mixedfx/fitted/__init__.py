"""The fitted-model contract: what the features (inference, tidy, plots, effects,
diagnostics) read from a fit (`protocol`), the accessors they share (`getme`, `varcorr`,
`varcorr_print`, `predict`), and how a fit is saved (`saving`, `model_file`). It sits below
the features and above the engines; the result classes implement it."""
