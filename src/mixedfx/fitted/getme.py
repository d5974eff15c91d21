"""lme4's `getME` pieces as explicit matrices, built on request from the model frame.

Z (n × q, scipy.sparse CSC) has for term t the columns offset_t + codes[i]·k + j holding the
term values V[i, j] (lme4's level-major order); Λ is block diagonal with the term's k × k
lower template Tₜ repeated per level (Λᵀ = `Lambdat`); u the spherical modes and b = Λu;
`flist` the grouping factors as pandas categoricals; `cnms` the term column names per group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.linalg as la

from mixedfx.errors import ArgumentError
from mixedfx.fitted.varcorr import unique_group_names
from mixedfx.frame.terms import RandomEffectsTerm
from mixedfx.lazy import lazy_module

sp = lazy_module("scipy.sparse")  # ~0.1 s at import (with scipy.sparse.linalg); only here

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import MixedModel


def z_matrix(terms: list[RandomEffectsTerm], n: int) -> sp.csc_matrix:
    """Z = [Z₁ … Z_T] (n × Σ qₜ), sparse."""
    blocks = []
    for t in terms:
        k = t.k
        rows = np.repeat(np.arange(n), k)
        cols = (t.codes[:, None] * k + np.arange(k)[None, :]).ravel()
        blocks.append(sp.csc_matrix((t.values.ravel(), (rows, cols)), shape=(n, t.q)))
    if not blocks:
        return sp.csc_matrix((n, 0))
    Z = sp.hstack(blocks, format="csc")
    Z.eliminate_zeros()                 # as lme4's Z: term values of 0 are not stored
    return Z


def lambda_matrix(terms: list[RandomEffectsTerm], templates: list[np.ndarray]
                  ) -> sp.csc_matrix:
    """Λ (q × q): block diagonal, Tₜ repeated once per level of term t."""
    blocks = [sp.kron(sp.identity(t.n_levels, format="csc"), sp.csc_matrix(T), format="csc")
              for t, T in zip(terms, templates, strict=True)]
    return sp.block_diag(blocks, format="csc") if blocks else sp.csc_matrix((0, 0))


def stacked(per_term: list[np.ndarray]) -> np.ndarray:
    """One vector from per-term (levels, k) arrays in lme4's level-major order."""
    return np.concatenate([np.asarray(x).ravel() for x in per_term]) if per_term \
        else np.zeros(0)


def flist(terms: list[RandomEffectsTerm]) -> dict[str, pd.Categorical]:
    """The grouping factors, one per distinct group name (lme4's `getME(m, "flist")`)."""
    out: dict[str, Any] = {}
    for t in terms:
        if t.group_name not in out:
            out[t.group_name] = pd.Categorical.from_codes(t.codes, categories=t.levels)
    return out


def cnms(terms: list[RandomEffectsTerm]) -> dict[str, list[str]]:
    """Term column names per term (repeated group names made unique as lme4 prints them)."""
    return {g: list(t.term_names)
            for g, t in zip(unique_group_names(terms), terms, strict=True)}


def re_pca(terms: list[RandomEffectsTerm], templates: list[np.ndarray],
           group_names: list[str]) -> dict[str, pd.DataFrame]:
    """lme4's `summary(rePCA(m))`: per grouping factor, the singular values of its relative
    covariance factor (the block diagonal of the terms' templates Tₜ for that factor) as
    standard deviations of the principal components (in units of σ), with the proportion of
    variance sᵢ²/Σs² and its cumulative sum (rounded to 5 decimals, as `summary.prcomp`)."""
    out: dict[str, pd.DataFrame] = {}
    for g in dict.fromkeys(group_names):
        blocks = [T for T, name in zip(templates, group_names, strict=True) if name == g]
        s = np.linalg.svd(la.block_diag(*blocks), compute_uv=False)
        var = s**2 / np.sum(s**2) if np.sum(s**2) > 0 else np.zeros_like(s)
        out[g] = pd.DataFrame([s, np.round(var, 5), np.round(np.cumsum(var), 5)],
                              index=["Standard deviation", "Proportion of Variance",
                                     "Cumulative Proportion"],
                              columns=[f"PC{i + 1}" for i in range(len(s))])
    return out


GETME_NAMES = ("X", "Z", "Zt", "Lambda", "Lambdat", "u", "b", "theta", "beta", "flist",
               "cnms", "sigma", "n", "p", "q", "Tlist", "lower")


def getme(model: MixedModel, name: str) -> Any:
    """lme4's `getME(m, name)` for the names in `GETME_NAMES`."""
    fr = model.frame
    if name == "X":
        return pd.DataFrame(fr.X, columns=fr.fixef_names)
    if name in ("Z", "Zt"):
        Z = z_matrix(fr.terms, fr.n)
        return Z if name == "Z" else Z.T.tocsc()
    if name in ("Lambda", "Lambdat"):
        L = lambda_matrix(fr.terms, model.templates)
        return L if name == "Lambda" else L.T.tocsc()
    if name == "b":
        return stacked(model.random_effects)
    if name == "u":
        out = []
        for b, T in zip(model.random_effects, model.templates, strict=True):
            # b = u Tᵀ per level; T may be singular, so least squares as lme4's u is defined
            out.append(np.linalg.lstsq(T, b.T, rcond=None)[0].T)
        return stacked(out)
    if name == "theta":
        return model.theta
    if name == "beta":
        return model.beta
    if name == "flist":
        return flist(fr.terms)
    if name == "cnms":
        return cnms(fr.terms)
    if name == "sigma":
        return model.sigma
    if name == "n":
        return fr.n
    if name == "p":
        return fr.X.shape[1]
    if name == "q":
        return sum(t.q for t in fr.terms)
    if name == "Tlist":
        return dict(zip(unique_group_names(fr.terms), model.templates, strict=True))
    if name == "lower":
        return model.lower
    raise ArgumentError(f"unknown getME name {name!r}; available: {', '.join(GETME_NAMES)}")
