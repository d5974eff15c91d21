"""The compiled profiled-deviance evaluation (`mixedfx._native.lmm`) of a `BlockedCholesky`.

The C evaluator holds the cross-products (A₁₁, A_rr and B in one of the forms
`WeightedGram` keeps: dense, stored pair products, or level-major) and computes, for one θ,
the templates, the per-level factors of Λ₁ᵀA₁₁Λ₁ + I, W = Λ₁(Λ₁ᵀA₁₁Λ₁ + I)⁻¹Λ₁ᵀ, the Schur
complement S = Λ_rᵀ(A_rr − B W Bᵀ)Λ_r + I and — up to `NATIVE_CHOL_MAX` rows — its
Cholesky factor, the log-determinants and pwrss, in one call without the GIL. Past that size
the C code builds S and LAPACK's `dpotrf` factors it (faster there than a plain C loop).

This module only translates: which θ entries fill which template entries (a 0/1 map for
lme4's unstructured and the diagonal structures; other structures pass their templates), and
which arrays of the gram the kernel reads. `evaluator` returns None when the kernel is not
built (`mixedfx.native` then warns once) or the model has a form the kernel does not take
(a term with more than 32 columns, B kept sliced on disk); the NumPy path then serves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mixedfx.frame.terms import RandomEffectsTerm
from mixedfx.lmm import supernodal
from mixedfx.lmm.terms_plan import template_map_of
from mixedfx.native import kernel

# the largest Schur complement (rows) the C loop factors; LAPACK's blocked dpotrf beyond.
# Measured (one thread, CPU time, C / dpotrf incl. its Python call): r = 8: 0.46, 32: 0.84,
# 48: 1.08, 64: 1.39, 96: 1.85, 1145 (InstEval): ≈ 4
NATIVE_CHOL_MAX = 48


def template_map(terms: list[RandomEffectsTerm]) -> np.ndarray | None:
    """For each entry of the packed templates (term by term, k×k row-major) the index of the
    θ value it holds (−1: a structural zero), or None when some structure is not a 0/1 map of
    θ (then its templates are computed in Python for every θ). lme4's unstructured and the
    diagonal structures place each θ value in one entry: their template at θ = (1, 2, …)
    labels the entries."""
    return template_map_of(tuple(t.covariance for t in terms))


Layout = tuple[np.ndarray, np.ndarray | None]


def layout(chol: Any) -> Layout | None:
    """(the rest terms' (offset, k, levels) rows, the template map or None) the evaluator of
    this factorization's terms is built with — the same for every set of cross-products of
    these terms (`lmm.terms_plan`) — or None when the kernel does not take them (a term with
    more than `terms_plan.KMAX` columns)."""
    plan = chol.terms_plan()
    if plan.rest_layout is None:
        return None
    return plan.rest_layout, plan.template_map


def map_templates(theta: np.ndarray, gather: np.ndarray, ks: list[int]) -> list[np.ndarray]:
    """The terms' templates at θ (terms of `ks` columns) from the template map, as
    `gather` = tmap + 1: entry i of the packed templates holds θ[tmap[i]], or 0 where
    tmap[i] = −1 — what `covariance.template` places, value for value, without a Python
    call per term."""
    ext = np.zeros(len(theta) + 1)
    ext[1:] = theta
    flat = ext.take(gather)
    if len(ks) == 1:
        return [flat.reshape(ks[0], ks[0])]
    out, start = [], 0
    for k in ks:
        out.append(flat[start:start + k * k].reshape(k, k))
        start += k * k
    return out


def evaluator(chol: Any) -> tuple[Any, np.ndarray | None] | None:
    """(the C evaluator, the template map or None) for this factorization, or None when the
    NumPy path must serve. The layout comes from `chol.layout()` (kept across a refit's
    factorizations of the same terms)."""
    lay = chol.layout()
    if lay is None:
        return None
    arrays = getattr(chol.gram, "kernel_arrays", None)
    gram = None if arrays is None else arrays()
    if gram is None:
        return None
    mod = kernel("lmm")
    if mod is None:
        return None
    xp = chol.xp
    rest, tmap = lay
    Arr = np.ascontiguousarray(xp.Arr, dtype=float)
    ev = mod.evaluator(np.ascontiguousarray(xp.A11, dtype=float), Arr, xp.p, rest, gram,
                       tmap, chol.n_theta, xp.n)
    supernodal.attach(ev, mod, gram, Arr, xp.q_rest, chol.terms_plan().all_scalar_rest)
    return ev, tmap


def native_input(chol: Any, theta: np.ndarray, tmap: np.ndarray | None
                 ) -> np.ndarray:
    """What the evaluator reads: θ itself, or the packed templates when some structure is
    not a 0/1 map of θ."""
    if tmap is not None:
        return theta
    return np.concatenate([T.ravel() for T in chol.templates(theta)])


def factor(chol: Any, nat: tuple, theta: np.ndarray, workspace: np.ndarray,
           clean: bool = True) -> tuple[np.ndarray, float, float, float] | None:
    """(L_rr, log|L_Z|², log|R_X|², pwrss) as `BlockedCholesky._schur` gives them, from the
    evaluator `nat` = `chol.native()`: S built (and, up to `NATIVE_CHOL_MAX` rows, factored)
    in C, in `workspace` (L_rr is a view of it); None when S is not positive definite.
    Without `clean` the caller reads only the log-determinants and pwrss: a LAPACK-factored
    L_rr's upper triangle is left as it was, and a model with a supernodal plan
    (`lmm.supernodal`) is factored that way, without L_rr (None)."""
    ev, tmap = nat
    x = theta if tmap is not None else native_input(chol, theta, tmap)
    if not workspace.flags.c_contiguous:
        workspace = np.empty(workspace.shape)
    if not clean and ev.supernodal():
        # the supernodal factor (`lmm.supernodal`): only its log-determinants and pwrss
        parts = ev.factor_sn(x, workspace)
        return None if parts is None else (None, *parts)
    if chol.xp.Arr.shape[0] <= NATIVE_CHOL_MAX:
        parts = ev.factor(x, workspace)
        return None if parts is None else (workspace.T, *parts)
    ld1 = ev.schur(x, workspace)
    return None if ld1 is None else chol.factor_schur(workspace, ld1, clean)
