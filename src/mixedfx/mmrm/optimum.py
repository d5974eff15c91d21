"""The record of a fitted MMRM (what `mmrm.fit` returns and the inference modules read):
the state at θ̂, the Hessian H of −2ℓ there, θ̂'s asymptotic covariance 2 H⁻¹ and the
optimizer's facts. Kept apart from the fitting code so that the modules the fit calls
(`hessian`, `components`) can name it without importing the fit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixedfx.mmrm.derivatives import SigmaMap
from mixedfx.mmrm.likelihood import State


@dataclass
class MmrmFit:
    """The optimum: its state, the Hessian of −2ℓ, θ's covariance and optimizer facts."""

    state: State
    hessian: np.ndarray
    theta_vcov: np.ndarray
    reml: bool
    smap: SigmaMap
    n_evaluations: int
    converged: bool
