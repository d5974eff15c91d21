"""Per-term parameterizations of the relative covariance factor Λθ.

Each random-effects term with k columns has a k×k lower-triangular template T(θ_t); the term's
block of Λθ is I_levels ⊗ T(θ_t). This package owns the maps θ_t -> T, their lower bounds and
starting values, lme4's parameter names, and the conversion to variances and correlations.
"""

from mixedfx.covariance.unstructured import CovarianceStructure, Unstructured, structure_for

__all__ = ["CovarianceStructure", "Unstructured", "structure_for"]
