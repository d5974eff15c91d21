"""The state of PIRLS at given conditional modes: u, β and everything evaluated at them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class PirlsState:
    """Conditional modes and everything evaluated at them."""

    u: list[np.ndarray]             # spherical random effects per term, (levels, k)
    beta: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    dev_resid_sum: float
    ussq: float
    factor: Any = None            # the factor at the last iteration's weights (its ldL2, L11)
    chol: Any = None              # its BlockedCholesky (NumPy path only)
    iterations: int = 0
    loglik_kernel: float | None = None
    lag: float = np.inf           # size of the step since `factor` was computed
    templates: list[np.ndarray] | None = None   # Λ templates the modes were found at

    @property
    def pdev(self) -> float:
        return self.dev_resid_sum + self.ussq
