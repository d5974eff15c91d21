"""mmrm's covariance structures, with mmrm's parameterizations (its `src/covariance.h`).

For m visits, with sd = exp(θ_sd) and ρ(θ) = θ / √(1 + θ²):

    us     Σ = L Lᵀ, L = diag(sd) (I + strictly lower part filled row-wise by θ[m:])
    toep   Σ = sd² R, R_ij = ρ_{|i−j|}              (1 + m − 1 parameters)
    toeph  Σ = D R D, D = diag(sd_1..sd_m)         (m + m − 1)
    ar1    Σ = sd² ρ^|i−j|                          (2);     ar1h: D ρ^|i−j| D  (m + 1)
    ad     Σ = sd² R, R_ij = ∏_{k=j}^{i−1} ρ_k  (i > j) (1 + m − 1); adh: D R D (m + m − 1)
    cs     Σ = sd² ((1 − r) I + r 11ᵀ), r = logistic(θ)(1 + a) − a, a = 1 / (m − 1)  (2)
    csh    Σ = D ((1 − r) I + r 11ᵀ) D              (m + 1)
    sp_exp Σ_ij = exp(θ₀) ρ^{d_ij},  ρ = logistic(θ₁), d the Euclidean distance of coordinates
    sp_gau Σ_ij = exp(θ₀) ρ^{d_ij²}

Every `sigma` is written with operations that are analytic in θ, so it can be evaluated at
complex θ: `mixedfx.mmrm.derivatives` differentiates it by the complex step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def rho_of(t: np.ndarray) -> np.ndarray:
    """mmrm's map to correlations, θ / √(1 + θ²)."""
    return t / np.sqrt(1.0 + t * t)


def _logistic(t: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-t))


def _lags(m: int) -> np.ndarray:
    i = np.arange(m)
    return np.abs(i[:, None] - i[None, :])


def _scale(sd: np.ndarray, R: np.ndarray) -> np.ndarray:
    return sd[:, None] * R * sd[None, :]


@functools.lru_cache(maxsize=64)
def tril_positions(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise strictly lower positions: (1,0), (2,0), (2,1), ... (numpy's order)."""
    return np.tril_indices(m, -1)


def _us(th: np.ndarray, m: int) -> np.ndarray:
    sd = np.exp(th[:m])
    U = np.zeros((m, m), dtype=th.dtype)
    U[tril_positions(m)] = th[m:]
    U[np.diag_indices(m)] = 1.0
    L = sd[:, None] * U
    return L @ L.T


def toeplitz_corr(r: np.ndarray, m: int) -> np.ndarray:
    full = np.concatenate([np.ones(1, dtype=r.dtype), r])
    return full[_lags(m)]


def ante_corr(r: np.ndarray, m: int) -> np.ndarray:
    # R_ij = prod(r[j:i]) for i > j: cumulative products of log-free form
    R = np.eye(m, dtype=r.dtype)
    for i in range(m):
        acc = np.ones((), dtype=r.dtype)
        for j in range(i - 1, -1, -1):
            acc = acc * r[j]
            R[i, j] = R[j, i] = acc
    return R


def ar1_corr(r: np.ndarray, m: int) -> np.ndarray:
    lag = _lags(m)
    powers = np.ones((m, m), dtype=r.dtype)
    for k in range(1, m):
        powers = np.where(lag == k, r ** k, powers)
    return powers


def _cs_corr(t: np.ndarray, m: int) -> np.ndarray:
    a = 1.0 / (m - 1) if m > 1 else 0.0
    r = _logistic(t) * (1.0 + a) - a
    return (1.0 - r) * np.eye(m) + r * np.ones((m, m))


def spatial_sigma(structure: str, th: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Σ of one subject from its distance matrix (sp_exp / sp_gau)."""
    log_rho = -np.log1p(np.exp(-th[1]))
    power = dist if structure == "sp_exp" else dist * dist
    return np.exp(th[0]) * np.exp(power * log_rho)


def _corr_count(kind: str, m: int) -> int:
    return {"us": m * (m - 1) // 2, "lags": m - 1, "one": 1}[kind]


@dataclass(frozen=True)
class Structure:
    """A covariance structure: its parameter count and Σ(θ) for m visits. `corr` maps the
    correlation parameters (after θ / √(1 + θ²) when `mapped`) to the m × m correlation
    matrix; None for us (its own Cholesky form) and the spatial structures. Only
    module-level functions are stored, so fitted models pickle."""

    name: str
    heterogeneous: bool
    corr_kind: str                      # "us", "lags" (m − 1), "one"
    corr: Callable[[np.ndarray, int], np.ndarray] | None = None
    mapped: bool = True

    @property
    def spatial(self) -> bool:
        return self.name in ("sp_exp", "sp_gau")

    def n_corr(self, m: int) -> int:
        return _corr_count(self.corr_kind, m)

    def sigma(self, th: np.ndarray, m: int) -> np.ndarray:
        """Σ(θ), m × m (non-spatial structures)."""
        if self.name == "us":
            return _us(th, m)
        k = m if self.heterogeneous else 1
        par = th[k:]
        R = self.corr(rho_of(par) if self.mapped else par[0], m)
        if self.heterogeneous:
            return _scale(np.exp(th[:m]), R)
        return np.exp(2.0 * th[0]) * R

    def n_params(self, m: int) -> int:
        if self.spatial:
            return 2
        return (m if self.heterogeneous else 1) + self.n_corr(m)

    def start(self, sd: np.ndarray) -> np.ndarray:
        """Start values: the visits' marginal SDs, zero correlation parameters (spatial:
        the mean variance, ρ = 0.5)."""
        if self.spatial:
            return np.array([np.log(np.mean(sd ** 2)), 0.0])
        m = len(sd)
        lsd = np.log(sd) if self.heterogeneous else np.array([np.log(np.mean(sd))])
        return np.concatenate([lsd, np.zeros(self.n_corr(m))])

    def param_names(self, visits: list[str]) -> list[str]:
        m = len(visits)
        if self.spatial:
            return ["log_var", "logit_rho"]
        sds = [f"log_sd_{v}" for v in visits] if self.heterogeneous else ["log_sd"]
        if self.name == "us":
            corr = [f"chol_{visits[i]}_{visits[j]}" for i in range(m) for j in range(i)]
        elif self.name in ("toep", "toeph"):
            corr = [f"rho_lag{k}" for k in range(1, m)]
        elif self.name in ("ad", "adh"):
            corr = [f"rho_{visits[k]}_{visits[k + 1]}" for k in range(m - 1)]
        else:
            corr = ["rho"]
        return sds + corr


STRUCTURE_TABLE: dict[str, Structure] = {
    "us": Structure("us", True, "us"),
    "toep": Structure("toep", False, "lags", toeplitz_corr),
    "toeph": Structure("toeph", True, "lags", toeplitz_corr),
    "ar1": Structure("ar1", False, "one", ar1_corr),
    "ar1h": Structure("ar1h", True, "one", ar1_corr),
    "ad": Structure("ad", False, "lags", ante_corr),
    "adh": Structure("adh", True, "lags", ante_corr),
    "cs": Structure("cs", False, "one", _cs_corr, mapped=False),
    "csh": Structure("csh", True, "one", _cs_corr, mapped=False),
    "sp_exp": Structure("sp_exp", False, "one"),
    "sp_gau": Structure("sp_gau", False, "one"),
}

DESCRIPTIONS = {
    "us": "unstructured", "toep": "homogeneous Toeplitz", "toeph": "heterogeneous Toeplitz",
    "ar1": "auto-regressive order one", "ar1h": "heterogeneous auto-regressive order one",
    "ad": "ante-dependence", "adh": "heterogeneous ante-dependence",
    "cs": "compound symmetry", "csh": "heterogeneous compound symmetry",
    "sp_exp": "spatial exponential", "sp_gau": "spatial Gaussian",
}
