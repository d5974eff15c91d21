"""nlme's within-group correlation structures: Corr(εᵢ, εⱼ) = C_g(tᵢ, tⱼ) for rows i, j of one
group g (rows of different groups are independent).

* `cor_ar1("~ t | g")`:       C = φ^|tᵢ − tⱼ|, integer times, |φ| < 1;
* `cor_car1("~ t | g")`:      C = φ^|tᵢ − tⱼ|, continuous times, 0 < φ < 1;
* `cor_comp_symm("~ 1 | g")`: C = ρ off the diagonal, −1/(m − 1) < ρ < 1;
* `cor_symm("~ t | g")`:      C = R[pos(tᵢ), pos(tⱼ)], a general correlation matrix R over the
  distinct times (with `var_ident` on the same times: the MMRM model).

Without a covariate (`"~ 1 | g"` or no form) the times are the row positions 1, 2, … within the
group. Without `| g` the grouping is the innermost random-effect grouping factor (lmer), or the
whole data set as one group (gls), as nlme does.

Unconstrained parameters for the optimizer: φ = tanh(ψ) (AR1), φ = logistic(ψ) (CAR1),
ρ = lo + (1 − lo)·logistic(ψ) with lo = −1/(m_max − 1) (compound symmetry); for `cor_symm`
the strictly lower entries of a unit lower-triangular L with R = N L Lᵀ N, N = diag(LLᵀ)^{-1/2},
which is a correlation matrix for every value. Whitening multiplies each group's rows by a
factor F with F C Fᵀ = I (nlme's: L_C⁻¹ for C = L_C L_Cᵀ, the Helmert basis for compound
symmetry), computed once per distinct time pattern; log|C| joins the likelihood.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.linalg import solve_triangular

from mixedfx.errors import ArgumentError
from mixedfx.frame.grouping import grouping_factor
from mixedfx.residual.form import StructureForm, parse_form
from mixedfx.unknown_arguments import refuse_unknown_arguments


@dataclass(frozen=True)
class CorStruct:
    """An unbound correlation structure: its nlme name and form."""

    name: str
    form: StructureForm

    def bind(self, frame: pd.DataFrame, group_codes: np.ndarray | None) -> BoundCorStruct:
        """Bind to the rows of `frame`; `group_codes` is the default grouping (the form's
        `| g` takes precedence; None and no `| g`: one group)."""
        if self.form.groups:
            for g in self.form.groups:
                if g not in frame.columns:
                    raise ArgumentError(f"grouping column {g!r} of {_CONSTRUCTOR[self.name]} not "
                                        "found in data")
            group_codes, _ = grouping_factor(frame, self.form.groups)
        elif group_codes is None:
            group_codes = np.zeros(len(frame), dtype=np.int64)
        times = self._times(frame, group_codes)
        return BoundCorStruct(self, np.asarray(group_codes, dtype=np.int64), times)

    def _times(self, frame: pd.DataFrame, group_codes: np.ndarray) -> np.ndarray:
        cov = self.form.covariate
        what = _CONSTRUCTOR[self.name]
        if cov is None:
            if self.name == "corCAR1":
                raise ArgumentError("cor_car1 needs a continuous time covariate: write "
                                    "cor_car1('~ time | g')")
            order = np.argsort(group_codes, kind="stable")
            pos = np.empty(len(frame))
            sorted_codes = group_codes[order]
            starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
            run = np.arange(len(frame)) - np.repeat(starts, np.diff(np.r_[starts, len(frame)]))
            pos[order] = run + 1
            return pos
        if cov not in frame.columns:
            raise ArgumentError(f"{what} covariate {cov!r} not found in data")
        col = frame[cov]
        if isinstance(col.dtype, pd.CategoricalDtype) and self.name == "corSymm":
            t = col.cat.codes.to_numpy(dtype=float) + 1
        elif pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(
                col.dtype):
            t = col.to_numpy(dtype=float)
        else:
            raise ArgumentError(f"{what} covariate {cov!r} must be numeric, got {col.dtype}")
        if not np.all(np.isfinite(t)):
            raise ArgumentError(f"{what} covariate {cov!r} has non-finite values")
        if self.name in ("corAR1", "corSymm") and np.any(t != np.round(t)):
            raise ArgumentError(f"{what} covariate {cov!r} must be integer-valued (times "
                                "1, 2, ...); use cor_car1 for continuous times")
        return t


_CONSTRUCTOR = {"corAR1": "cor_ar1", "corCAR1": "cor_car1", "corCompSymm": "cor_comp_symm",
                "corSymm": "cor_symm"}


def _logistic(x: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-x))


class BoundCorStruct:
    """A correlation structure bound to rows: groups, times and the distinct time patterns."""

    def __init__(self, struct: CorStruct, group_codes: np.ndarray, times: np.ndarray) -> None:
        self.struct = struct
        self.group_codes = group_codes
        self.times = times
        order = np.argsort(group_codes, kind="stable")
        sorted_codes = group_codes[order]
        bounds = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1, len(order)]
        patterns: dict[tuple[float, ...], list[np.ndarray]] = {}
        what = _CONSTRUCTOR[struct.name]
        for a, b in itertools.pairwise(bounds):
            rows = order[a:b]
            key = tuple(times[rows].tolist())
            if len(set(key)) != len(key):
                raise ArgumentError(f"{what}: times (covariate {struct.form.covariate!r}) must "
                                    "be unique within each group; group "
                                    f"{int(group_codes[rows[0]])} repeats a time")
            patterns.setdefault(key, []).append(rows)
        self.patterns = [(np.array(k), np.stack(v)) for k, v in patterns.items()]
        self.max_size = max(len(k) for k, _ in self.patterns)
        self.levels = np.unique(times) if struct.name == "corSymm" else None
        if struct.name == "corSymm":
            m = len(self.levels)
            self.n_params = m * (m - 1) // 2
        else:
            self.n_params = 1
        if struct.name == "corCompSymm":
            self._lo = -1.0 / (self.max_size - 1) if self.max_size > 1 else -1.0

    @property
    def name(self) -> str:
        return self.struct.name

    def permuted(self, order: np.ndarray) -> BoundCorStruct:
        """The same structure bound to the rows taken in `order` (a group's times stay
        with its rows, so C_g is the same matrix with its rows and columns permuted)."""
        return BoundCorStruct(self.struct, self.group_codes[order], self.times[order])

    def start(self) -> np.ndarray:
        if self.name == "corCAR1":
            return np.array([np.log(0.2 / 0.8)])         # nlme's default φ = 0.2
        if self.name == "corCompSymm":
            # ρ = 0: logistic(ψ) = −lo / (1 − lo)
            frac = -self._lo / (1.0 - self._lo)
            return np.array([np.log(frac / (1.0 - frac))])
        return np.zeros(self.n_params)

    # -- natural parameters -------------------------------------------------------------
    def natural(self, par: np.ndarray) -> np.ndarray:
        """φ, ρ, or the correlations of R (lower triangle, column by column)."""
        par = np.asarray(par, dtype=float)
        if self.name == "corAR1":
            return np.tanh(par)
        if self.name == "corCAR1":
            return _logistic(par)
        if self.name == "corCompSymm":
            return self._lo + (1.0 - self._lo) * _logistic(par)
        R = self.symm_matrix(par)
        cols, rows = np.triu_indices(len(self.levels), 1)
        return R[rows, cols]

    def symm_matrix(self, par: np.ndarray) -> np.ndarray:
        """R = N L Lᵀ N for cor_symm (see the module docstring)."""
        m = len(self.levels)
        L = np.eye(m)
        cols, rows = np.triu_indices(m, 1)
        L[rows, cols] = par
        R = L @ L.T
        d = 1.0 / np.sqrt(np.diag(R))
        R = R * d[:, None] * d[None, :]
        np.fill_diagonal(R, 1.0)
        return R

    def params(self, par: np.ndarray) -> pd.Series:
        nat = self.natural(par)
        if self.name in ("corAR1", "corCAR1"):
            return pd.Series(nat, index=["Phi"], name=self.name)
        if self.name == "corCompSymm":
            return pd.Series(nat, index=["Rho"], name=self.name)
        m = len(self.levels)
        cols, rows = np.triu_indices(m, 1)
        labels = [f"cor({_fmt(self.levels[c])},{_fmt(self.levels[r])})"
                  for r, c in zip(rows, cols, strict=True)]
        return pd.Series(nat, index=labels, name=self.name)

    def correlation(self, par: np.ndarray, t: np.ndarray) -> np.ndarray:
        """C for one group with times t."""
        if self.name in ("corAR1", "corCAR1"):
            phi = float(self.natural(par)[0])
            return phi ** np.abs(t[:, None] - t[None, :])
        if self.name == "corCompSymm":
            rho = float(self.natural(par)[0])
            C = np.full((len(t), len(t)), rho)
            np.fill_diagonal(C, 1.0)
            return C
        R = self.symm_matrix(par)
        pos = np.searchsorted(self.levels, t)
        return R[np.ix_(pos, pos)]

    # -- whitening -----------------------------------------------------------------------
    def whiten(self, par: np.ndarray, M: np.ndarray) -> tuple[np.ndarray, float] | None:
        """(L_C⁻¹ M per group, Σ_g log|C_g|), or None when some C_g is not positive
        definite (an invalid parameter value)."""
        out = M.copy()
        logdet = 0.0
        for t, rows in self.patterns:
            if len(t) == 1:
                continue
            factor = self.inverse_root(par, t)
            if factor is None:
                return None
            Linv, ld = factor
            logdet += rows.shape[0] * ld
            out[rows] = np.einsum("ij,gjc->gic", Linv, M[rows])
        return out, logdet

    def inverse_root(self, par: np.ndarray, t: np.ndarray
                     ) -> tuple[np.ndarray, float] | None:
        """(F, log|C|) with F C Fᵀ = I for one group: nlme's factor, so that whitened
        (normalized) residuals equal nlme's. That is the inverse lower Cholesky factor, except
        for compound symmetry, where nlme uses the Helmert basis: row 0 is
        (1, …, 1)/√(m(1 + (m − 1)ρ)) and row i ≥ 1 has −1/√((1 − ρ)i(i + 1)) in its first i
        columns and i/√((1 − ρ)i(i + 1)) in column i. None when C is not positive definite."""
        m = len(t)
        if self.name == "corCompSymm":
            rho = float(self.natural(par)[0])
            top, rest = 1.0 + (m - 1) * rho, 1.0 - rho
            if top <= 0 or rest <= 0:
                return None
            F = np.zeros((m, m))
            F[0] = 1.0 / np.sqrt(m * top)
            for i in range(1, m):
                a = 1.0 / np.sqrt(rest * i * (i + 1))
                F[i, :i] = -a
                F[i, i] = i * a
            return F, float(np.log(top) + (m - 1) * np.log(rest))
        try:
            L = np.linalg.cholesky(self.correlation(par, t))
        except np.linalg.LinAlgError:
            return None
        d = np.diagonal(L)
        if np.any(d <= 0) or not np.all(np.isfinite(d)):
            return None
        return solve_triangular(L, np.eye(m), lower=True), 2.0 * float(np.sum(np.log(d)))

    def colour(self, par: np.ndarray, E: np.ndarray) -> np.ndarray:
        """L_C E per group: independent N(0, 1) draws become correlated ones."""
        out = E.copy()
        for t, rows in self.patterns:
            if len(t) > 1:
                L = np.linalg.cholesky(self.correlation(par, t))
                out[rows] = np.einsum("ij,gj...->gi...", L, E[rows])
        return out


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


@refuse_unknown_arguments
def cor_ar1(form: str | None = None) -> CorStruct:
    """nlme's `corAR1(form = ~ t | g)`: AR(1) over integer times t within groups g."""
    return CorStruct("corAR1", parse_form(form, "cor_ar1"))


@refuse_unknown_arguments
def cor_car1(form: str | None = None) -> CorStruct:
    """nlme's `corCAR1(form = ~ t | g)`: continuous-time AR(1), Corr = φ^|Δt|."""
    return CorStruct("corCAR1", parse_form(form, "cor_car1"))


@refuse_unknown_arguments
def cor_comp_symm(form: str | None = None) -> CorStruct:
    """nlme's `corCompSymm(form = ~ 1 | g)`: one common within-group correlation ρ."""
    return CorStruct("corCompSymm", parse_form(form, "cor_comp_symm"))


@refuse_unknown_arguments
def cor_symm(form: str | None = None) -> CorStruct:
    """nlme's `corSymm(form = ~ t | g)`: a general correlation matrix over the times t."""
    return CorStruct("corSymm", parse_form(form, "cor_symm"))
