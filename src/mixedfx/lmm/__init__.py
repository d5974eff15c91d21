"""The linear mixed model engine: cross-products, blocked Cholesky, profiled deviance, fit."""
