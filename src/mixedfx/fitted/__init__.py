"""The fitted-model contract: what the features (inference, tidy, plots, effects,
diagnostics) read from a fit (`protocol`), and the accessors they share (`getme`, `varcorr`,
`varcorr_print`, `predict`). It sits below the features and above the engines; the result
classes implement it."""
