"""Per-term parameterizations of the relative covariance factor Λθ.

Each random-effects term with k columns has a k×k lower-triangular template T(θ_t); the term's
block of Λθ is I_levels ⊗ T(θ_t). This package owns the maps θ_t -> T, their bounds and
starting values, the parameter names, and the conversion to variances and correlations:
lme4's unstructured covariance (`us`) and glmmTMB's structures `diag`, `cs`, `homcs`, `ar1`
and `toep`, one module per family.
"""

from mixedfx.covariance.autoregressive import AR1
from mixedfx.covariance.compound import CompoundSymmetry, HomogeneousCompoundSymmetry
from mixedfx.covariance.diagonal import Diagonal
from mixedfx.covariance.structured import StructuredCovariance
from mixedfx.covariance.toeplitz import Toeplitz
from mixedfx.covariance.unstructured import CovarianceStructure, Unstructured
from mixedfx.errors import ArgumentError

#: glmmTMB's name -> class, for the structures mixedfx implements
STRUCTURES: dict[str, type[CovarianceStructure]] = {
    "us": Unstructured,
    "diag": Diagonal,
    "cs": CompoundSymmetry,
    "homcs": HomogeneousCompoundSymmetry,
    "ar1": AR1,
    "toep": Toeplitz,
}


def structure_for(k: int, kind: str = "us") -> CovarianceStructure:
    """The covariance structure named `kind` (glmmTMB's names) for a term with k columns."""
    try:
        cls = STRUCTURES[kind]
    except KeyError:
        raise ArgumentError(f"unknown covariance structure {kind!r}; available: "
                            f"{', '.join(STRUCTURES)}") from None
    return cls(k)


__all__ = ["AR1", "STRUCTURES", "CompoundSymmetry", "CovarianceStructure", "Diagonal",
           "HomogeneousCompoundSymmetry", "StructuredCovariance", "Toeplitz", "Unstructured",
           "structure_for"]
