"""The fitted-model contract: what features read from a fit, and how a fit is saved."""
