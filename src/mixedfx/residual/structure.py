"""The residual covariance of a model with nlme structures, and its whitening.

Within group g the residuals have covariance σ² V_g with V_g = S_g C_g S_g: S_g = diag(sᵢ)
from the variance function and C_g the correlation structure (either may be absent). With
V_g = L_g L_gᵀ, L_g = S_g L_C, premultiplying the rows of [X Z y] by L_g⁻¹ = L_C⁻¹ S_g⁻¹ turns
the model into one with independent residuals of variance σ², and

    log L(β, θ, σ, ψ | y) = log L_white(β, θ, σ | L⁻¹y) − ½ log|V|,
    log|V| = 2 Σᵢ log sᵢ + Σ_g log|C_g|.

So the profiled deviance of the whitened data plus log|V| is the objective over (θ, ψ), ψ the
unconstrained structure parameters (variance function first, then correlation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentTypeError
from mixedfx.residual.correlation import BoundCorStruct, CorStruct
from mixedfx.residual.variance import BoundVarFunc, VarFunc


@dataclass
class ResidualStructure:
    """A bound variance function and/or correlation structure."""

    var: BoundVarFunc | None
    cor: BoundCorStruct | None

    @property
    def n_var(self) -> int:
        return 0 if self.var is None else self.var.n_params

    @property
    def n_params(self) -> int:
        return self.n_var + (0 if self.cor is None else self.cor.n_params)

    def start(self) -> np.ndarray:
        parts = [s.start() for s in (self.var, self.cor) if s is not None]
        return np.concatenate(parts) if parts else np.zeros(0)

    def split(self, psi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        psi = np.asarray(psi, dtype=float)
        return psi[:self.n_var], psi[self.n_var:]

    def permuted(self, order: np.ndarray) -> ResidualStructure:
        """The structure bound to the rows taken in `order`."""
        return ResidualStructure(None if self.var is None else self.var.permuted(order),
                                 None if self.cor is None else self.cor.permuted(order))

    def sd_multipliers(self, psi: np.ndarray) -> np.ndarray | None:
        """sᵢ of the variance function (None without one)."""
        return None if self.var is None else self.var.sd_multipliers(self.split(psi)[0])

    def whiten(self, psi: np.ndarray, M: np.ndarray) -> tuple[np.ndarray, float] | None:
        """(L⁻¹M, log|V|), or None at an invalid parameter value."""
        pv, pc = self.split(psi)
        logdet = 0.0
        if self.var is not None:
            s = self.var.sd_multipliers(pv)
            if not np.all(np.isfinite(s)) or np.any(s <= 0):
                return None
            M = M / s[:, None]
            logdet += 2.0 * float(np.sum(np.log(s)))
        if self.cor is not None:
            res = self.cor.whiten(pc, M)
            if res is None:
                return None
            M, ldc = res
            logdet += ldc
        return M, logdet

    def colour(self, psi: np.ndarray, E: np.ndarray) -> np.ndarray:
        """L E: independent N(0, 1) rows become draws with covariance V."""
        pv, pc = self.split(psi)
        out = E if self.cor is None else self.cor.colour(pc, E)
        if self.var is not None:
            s = self.var.sd_multipliers(pv)
            out = out * (s if out.ndim == 1 else s[:, None])
        return out


def check_structure_types(weights: object, correlation: object) -> None:
    """Refuse anything but the constructors' objects."""
    if weights is not None and not isinstance(weights, VarFunc):
        raise ArgumentTypeError("a residual variance function must come from mixedfx.var_ident, "
                                "var_power or var_exp")
    if correlation is not None and not isinstance(correlation, CorStruct):
        raise ArgumentTypeError("correlation must come from mixedfx.cor_ar1, cor_car1, "
                                "cor_comp_symm or cor_symm")


def bind_structures(frame: pd.DataFrame, weights: VarFunc | None,
                    correlation: CorStruct | None, default_groups: np.ndarray | None,
                    row_order: np.ndarray) -> ResidualStructure:
    """Bind the user's `weights=` variance function and `correlation=` structure to the
    model frame's rows."""
    check_structure_types(weights, correlation)
    var = None if weights is None else weights.bind(frame, row_order)
    cor = None if correlation is None else correlation.bind(frame, default_groups)
    if var is not None and var.n_params == 0:
        var = None
    return ResidualStructure(var, cor)
