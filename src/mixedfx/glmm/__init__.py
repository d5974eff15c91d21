"""Generalized linear mixed models: response encoding, PIRLS for the conditional modes, the
Laplace and adaptive Gauss–Hermite objectives, and lme4's two-stage optimization."""
