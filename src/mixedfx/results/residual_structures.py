"""Reported residual structures of a fitted model: nlme's `varStruct` and `corStruct` on their
constrained scale, and the summary blocks nlme prints for them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError
from mixedfx.residual.structure import ResidualStructure
from mixedfx.rformat import format_real, print_named_vector
from mixedfx.unknown_arguments import RefusesUnknownArguments

VAR_TITLES = {
    "varIdent": "Different standard deviations per stratum",
    "varPower": "Power of variance covariate",
    "varExp": "Exponential of variance covariate",
}
COR_TITLES = {
    "corAR1": "AR(1)",
    "corCAR1": "Continuous AR(1)",
    "corCompSymm": "Compound symmetry",
    "corSymm": "General correlation",
}


@dataclass
class VarStruct:
    """A fitted variance function: `name` (nlme's class), `params` (nlme's constrained
    scale: SD ratios of the non-reference strata, `power` or `expon`) and `form`."""

    name: str
    form: str
    params: pd.Series
    _bound: object
    _par: np.ndarray
    _sigma: float

    def stratum_variances(self) -> pd.Series:
        """Residual variance σ²δ_s² of every stratum (`var_ident` only)."""
        if self.name != "varIdent":
            raise ArgumentError("stratum_variances() is defined for var_ident structures; "
                                f"this one is {self.name}")
        return self._bound.stratum_variances(self._par, self._sigma)  # type: ignore[attr-defined]

    def stratum_sds(self) -> pd.Series:
        """Residual SD σδ_s of every stratum (`var_ident` only)."""
        return np.sqrt(self.stratum_variances()).rename("sd")

    def __repr__(self) -> str:
        return f"VarStruct({self.name}, form={self.form!r}, params={self.params.to_dict()})"


@dataclass
class CorStruct:
    """A fitted correlation structure: `name`, `form` and `params` (`Phi`, `Rho`, or the
    correlations of a general correlation matrix)."""

    name: str
    form: str
    params: pd.Series
    _bound: object
    _par: np.ndarray

    def matrix(self, times: np.ndarray | list[float] | None = None) -> np.ndarray:
        """The within-group correlation matrix at `times` (cor_symm: all its times)."""
        b = self._bound
        if times is None:
            if b.levels is None:            # type: ignore[attr-defined]
                raise ArgumentError("give the times at which to evaluate the correlation")
            times = b.levels                 # type: ignore[attr-defined]
        return b.correlation(self._par, np.asarray(times, dtype=float))  # type: ignore

    def __repr__(self) -> str:
        return f"CorStruct({self.name}, form={self.form!r}, params={self.params.to_dict()})"


def fitted_structures(residual: ResidualStructure | None, psi: np.ndarray | None,
                      sigma: float) -> tuple[VarStruct | None, CorStruct | None]:
    if residual is None or psi is None:
        return None, None
    pv, pc = residual.split(psi)
    var = cor = None
    if residual.var is not None:
        b = residual.var
        var = VarStruct(b.name, b.func.form.text, b.params(pv), b, pv, sigma)
    if residual.cor is not None:
        c = residual.cor
        cor = CorStruct(c.name, c.struct.form.text, c.params(pc), c, pc)
    return var, cor


class ResidualStructureAccess(RefusesUnknownArguments):
    """Accessors of a fitted model with an optional nlme residual structure; the model has
    `_fit.residual` (a `ResidualStructure` or None), `_fit.psi` and `sigma`."""

    _fit: Any
    sigma: float

    @cached_property
    def _structures(self) -> tuple[VarStruct | None, CorStruct | None]:
        return fitted_structures(self._fit.residual, self._fit.psi, self.sigma)

    @property
    def var_struct(self) -> VarStruct | None:
        """The fitted variance function (`name`, `params`, `stratum_variances()`) or None."""
        return self._structures[0]

    @property
    def cor_struct(self) -> CorStruct | None:
        """The fitted correlation structure (`name`, `params`, `matrix()`) or None."""
        return self._structures[1]

    def structure_arguments(self) -> dict[str, Any]:
        """`weights=` / `correlation=` that refit this model's nlme residual structure (the
        variance function and correlation structure as given; empty without them)."""
        residual = self._fit.residual
        out: dict[str, Any] = {}
        if residual is not None and residual.var is not None:
            out["weights"] = residual.var.func
        if residual is not None and residual.cor is not None:
            out["correlation"] = residual.cor.struct
        return out

    def _whiten_rows(self, r: np.ndarray) -> np.ndarray:
        """L⁻¹r for the fitted residual covariance (the identity without a structure)."""
        res = self._fit.residual
        if res is None or res.n_params == 0:
            return r
        out = res.whiten(self._fit.psi, r[:, None])
        assert out is not None
        return out[0][:, 0]


def _named_values(params: pd.Series, digits: int = 7) -> str:
    cells = [c.strip() for c in format_real(params.to_numpy(dtype=float), digits)]
    return print_named_vector([str(i) for i in params.index], cells)


def structure_lines(var: VarStruct | None, cor: CorStruct | None) -> list[str]:
    """nlme's summary blocks for the correlation structure and the variance function."""
    out: list[str] = []
    if cor is not None:
        out += [f"Correlation Structure: {COR_TITLES[cor.name]}",
                f" Formula: {cor.form} ", " Parameter estimate(s):",
                _named_values(cor.params)]
    if var is not None:
        out += ["Variance function:", f" Structure: {VAR_TITLES[var.name]}",
                f" Formula: {var.form} ", " Parameter estimates:"]
        params = var.params
        if var.name == "varIdent":
            strata = var._bound.strata                      # type: ignore[attr-defined]
            params = pd.Series(np.concatenate([[1.0], params.to_numpy()]), index=strata)
        out.append(_named_values(params))
    return out
