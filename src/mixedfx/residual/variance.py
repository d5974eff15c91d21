"""nlme's variance functions: the residual standard deviation of row i is σ·sᵢ(δ).

* `var_ident("~ 1 | g")`:  sᵢ = δ_{g(i)}, one ratio per stratum, the reference stratum's 1;
* `var_power("~ v")`:      sᵢ = |vᵢ|^δ;
* `var_exp("~ v")`:        sᵢ = exp(δ vᵢ);

`var_power` and `var_exp` accept `"~ v | g"` for one δ per stratum. The optimizer works on
unconstrained parameters (log ratios for `var_ident`, δ itself otherwise); `params` reports
nlme's constrained scale (`coef(varStruct, unconstrained = FALSE)`). Whitening divides row i
by sᵢ and the log-likelihood gains −Σ log sᵢ (the Jacobian).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError
from mixedfx.frame.grouping import value_labels
from mixedfx.residual.form import StructureForm, parse_form
from mixedfx.unknown_arguments import refuse_unknown_arguments


def strata_in_order(labels: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Codes and names of the strata in the order they first appear in the rows taken in
    `order` (nlme: `unique()` of the strata after the data are sorted by group)."""
    seen: dict[str, int] = {}
    for i in order:
        seen.setdefault(labels[i], len(seen))
    codes = np.array([seen[v] for v in labels], dtype=np.int64)
    return codes, list(seen)


@dataclass(frozen=True)
class VarFunc:
    """An unbound variance function: its nlme name and form."""

    name: str
    form: StructureForm

    def bind(self, frame: pd.DataFrame, row_order: np.ndarray) -> BoundVarFunc:
        """The variance function for the rows of `frame` (`row_order`: nlme's sorted order)."""
        cov = self.form.covariate
        strata_codes = np.zeros(len(frame), dtype=np.int64)
        strata_names = [""]
        if self.form.groups:
            labels = _group_labels(frame, self.form.groups)
            strata_codes, strata_names = strata_in_order(labels, row_order)
        if self.name == "varIdent":
            if cov is not None:
                raise ArgumentError(f"var_ident form {self.form.text!r} takes no covariate: "
                                    "write '~ 1 | stratum'")
            if not self.form.groups:
                raise ArgumentError("var_ident needs a stratum: write var_ident('~ 1 | g')")
            return BoundVarIdent(self, strata_codes, strata_names)
        if cov is None:
            raise ArgumentError(f"{_CONSTRUCTOR[self.name]} needs a covariate: write "
                                f"{_CONSTRUCTOR[self.name]}('~ v')")
        v = _numeric(frame, cov, self.name)
        if self.name == "varPower" and np.any(v == 0):
            # |0|^δ is 0 or undefined for δ ≤ 0: nlme refuses as well
            raise ArgumentError(f"var_power covariate {cov!r} has zero values; the residual SD "
                                "|v|^δ would vanish there")
        return BoundCovariateVar(self, strata_codes, strata_names, v)


_CONSTRUCTOR = {"varIdent": "var_ident", "varPower": "var_power", "varExp": "var_exp"}


def _numeric(frame: pd.DataFrame, column: str, what: str) -> np.ndarray:
    if column not in frame.columns:
        raise ArgumentError(f"{what} covariate {column!r} not found in data")
    col = frame[column]
    if not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
        raise ArgumentError(f"{what} covariate {column!r} must be numeric, got {col.dtype}")
    v = col.to_numpy(dtype=float)
    if not np.all(np.isfinite(v)):
        raise ArgumentError(f"{what} covariate {column!r} has non-finite values")
    return v


def check_no_empty_strata(func: VarFunc, frame: pd.DataFrame) -> None:
    """A categorical stratum column of the user's data with a category that has no rows names
    a stratum whose variance var_ident cannot estimate: refuse it (nlme would silently drop
    it; here the user learns that the stratum is empty)."""
    if func.name != "varIdent":
        return
    for g in func.form.groups:
        col = frame[g] if g in frame.columns else None
        if col is not None and isinstance(col.dtype, pd.CategoricalDtype):
            counts = col.value_counts(sort=False)
            empty = [str(k) for k, v in counts.items() if v == 0]
            if empty:
                raise ArgumentError(f"var_ident stratum with no rows: {g} = {empty} (drop unused "
                                    "categories, e.g. with .cat.remove_unused_categories())")


def _group_labels(frame: pd.DataFrame, groups: tuple[str, ...]) -> np.ndarray:
    for g in groups:
        if g not in frame.columns:
            raise ArgumentError(f"grouping column {g!r} of a residual structure not found in data")
    parts = [value_labels(frame[g]) for g in groups]
    out = parts[0].astype(object)
    for p in parts[1:]:
        out = np.array([f"{a}*{b}" for a, b in zip(out, p, strict=True)], dtype=object)
    return out


class BoundVarFunc:
    """A variance function bound to the rows of a model frame."""

    func: VarFunc
    n_params: int

    @property
    def name(self) -> str:
        return self.func.name

    def start(self) -> np.ndarray:
        return np.zeros(self.n_params)

    def sd_multipliers(self, par: np.ndarray) -> np.ndarray:
        """sᵢ for the unconstrained parameters `par`."""
        raise NotImplementedError

    def params(self, par: np.ndarray) -> pd.Series:
        """nlme's constrained-scale coefficients."""
        raise NotImplementedError

    def permuted(self, order: np.ndarray) -> BoundVarFunc:
        """The same function bound to the rows taken in `order`."""
        raise NotImplementedError

    def row_keys(self) -> list[np.ndarray]:
        """The per-row numbers sᵢ depends on (for the canonical row order)."""
        raise NotImplementedError


class BoundVarIdent(BoundVarFunc):
    """varIdent: log ratios of the non-reference strata."""

    def __init__(self, func: VarFunc, codes: np.ndarray, names: list[str]) -> None:
        self.func, self.codes, self.strata = func, codes, names
        counts = np.bincount(codes, minlength=len(names))
        if np.any(counts == 0):
            empty = [n for n, c in zip(names, counts, strict=True) if c == 0]
            raise ArgumentError(f"var_ident stratum with no rows: {empty}")
        self.n_params = len(names) - 1

    def ratios(self, par: np.ndarray) -> np.ndarray:
        return np.concatenate([[1.0], np.exp(par)])

    def sd_multipliers(self, par: np.ndarray) -> np.ndarray:
        return self.ratios(par)[self.codes]

    def params(self, par: np.ndarray) -> pd.Series:
        return pd.Series(np.exp(par), index=self.strata[1:], name="varIdent")

    def permuted(self, order: np.ndarray) -> BoundVarIdent:
        return BoundVarIdent(self.func, self.codes[order], self.strata)

    def row_keys(self) -> list[np.ndarray]:
        return [self.codes]

    def stratum_variances(self, par: np.ndarray, sigma: float) -> pd.Series:
        """The residual variance of each stratum, σ² δ_s² (reference first)."""
        return pd.Series((sigma * self.ratios(par)) ** 2, index=self.strata,
                         name="variance")


class BoundCovariateVar(BoundVarFunc):
    """varPower (|v|^δ) and varExp (exp(δ v)), one δ per stratum."""

    def __init__(self, func: VarFunc, codes: np.ndarray, names: list[str],
                 v: np.ndarray) -> None:
        self.func, self.codes, self.strata, self.v = func, codes, names, v
        self.n_params = len(names)
        self._log_abs = np.log(np.abs(v)) if func.name == "varPower" else None

    def sd_multipliers(self, par: np.ndarray) -> np.ndarray:
        delta = np.asarray(par)[self.codes]
        if self._log_abs is not None:
            return np.exp(delta * self._log_abs)
        return np.exp(delta * self.v)

    def permuted(self, order: np.ndarray) -> BoundCovariateVar:
        return BoundCovariateVar(self.func, self.codes[order], self.strata, self.v[order])

    def row_keys(self) -> list[np.ndarray]:
        return [self.codes, self.v]

    def params(self, par: np.ndarray) -> pd.Series:
        label = "power" if self.func.name == "varPower" else "expon"
        index = [label] if len(self.strata) == 1 else [f"{label}.{s}" for s in self.strata]
        return pd.Series(np.asarray(par, dtype=float), index=index, name=self.func.name)


@refuse_unknown_arguments
def var_ident(form: str = "~ 1") -> VarFunc:
    """nlme's `varIdent(form = ~ 1 | g)`: one residual SD per stratum of g (the first
    stratum, in the order the sorted data meet them, is the reference with ratio 1)."""
    return VarFunc("varIdent", parse_form(form, "var_ident"))


def _covariate_form(form: str, func: str) -> StructureForm:
    """The parsed form of a variance function of a covariate (`func`: var_power, var_exp);
    nlme's default, fitted values, is not supported."""
    if form.replace(" ", "") in ("~fitted", "~fitted(.)"):
        raise ArgumentError(f"{func} on fitted values is not supported; give a covariate "
                            f"column, e.g. {func}('~ age')")
    return parse_form(form, func)


@refuse_unknown_arguments
def var_power(form: str = "~ fitted") -> VarFunc:
    """nlme's `varPower(form = ~ v)`: residual SD σ|v|^δ (`"~ v | g"`: one δ per stratum)."""
    return VarFunc("varPower", _covariate_form(form, "var_power"))


@refuse_unknown_arguments
def var_exp(form: str = "~ fitted") -> VarFunc:
    """nlme's `varExp(form = ~ v)`: residual SD σ exp(δ v) (`"~ v | g"`: one δ per stratum)."""
    return VarFunc("varExp", _covariate_form(form, "var_exp"))
