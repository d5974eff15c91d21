"""Kenward–Roger on structured models.

1. Structures that are linear reparameterizations of lme4 models give pbkrtest's numbers
   (`tests/reference/extra/kr_structured/make_kr_structured.R`): compound-symmetric residuals
   within h and `homcs(0 + f | g)` equal `(1 | g) + (1 | h)`; `var_ident` residuals equal an
   extra per-observation random effect in the high-variance stratum; `diag(x | g)` equals
   `(x || g)`.
2. Nonlinear structures (AR(1) residuals, an `ar1` term, heterogeneous `cs`) against an
   independent dense implementation of Kenward & Roger (1997) written here with analytic
   derivatives of Σ, including the second-derivative term R_ij.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.inference.kenward_roger import kenward_roger

HERE = Path(__file__).resolve().parents[1] / "reference" / "extra" / "kr_structured"
REF = json.loads((HERE / "kr_structured.json").read_text())


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(HERE / "kr_data.csv")


LINEAR_CASES = {
    "cs_nested": ("y ~ x + trt + (1 | g)", {"correlation": ("cor_comp_symm", "~ 1 | h")}),
    "homcs": ("y ~ x + trt + homcs(0 + f | g)", {}),
    "var_ident": ("y ~ x + trt + (1 | g)", {"weights": ("var_ident", "~ 1 | s")}),
    "diag": ("y ~ x + trt + diag(x | g)", {}),
}
REFERENCE_OF = {"cs_nested": "cs_nested", "homcs": "cs_nested", "var_ident": "var_ident",
                "diag": "diag"}


def fit(formula: str, data: pd.DataFrame, spec: dict, **kw) -> mfx.LinearMixedModel:
    kwargs = {k: getattr(mfx, ctor)(form) for k, (ctor, form) in spec.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mfx.lmer(formula, data, **kwargs, **kw)


@pytest.mark.parametrize("case", sorted(LINEAR_CASES))
def test_linear_structures_match_pbkrtest(case: str, data: pd.DataFrame) -> None:
    formula, spec = LINEAR_CASES[case]
    ref = REF[REFERENCE_OF[case]]
    m = fit(formula, data, spec)
    # the same model: the REML log-likelihoods agree (lme4 stops within its tolerance)
    assert m.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    kr = kenward_roger(m)
    np.testing.assert_allclose(kr.vcov_adj, np.array(ref["vcov_adj"]), rtol=5e-5)
    for j in range(3):
        assert kr.df(np.eye(3)[j]) == pytest.approx(ref["ddf"][j], rel=2e-6)
    coefs = m.summary(ddf="Kenward-Roger").coefficients
    np.testing.assert_allclose(coefs["df"], ref["ddf"], rtol=2e-6)
    np.testing.assert_allclose(coefs["Std. Error"], np.sqrt(np.diag(ref["vcov_adj"])),
                               rtol=3e-5)
    tab = m.anova(ddf="Kenward-Roger")
    drop = ref["F_drop_trt"]
    assert tab.loc["trt", "DenDF"] == pytest.approx(drop["ddf"], rel=2e-6)
    assert tab.loc["trt", "F value"] == pytest.approx(drop["F"], rel=5e-5)


# -- an independent implementation for nonlinear structures -------------------------------

def kenward_roger_dense(X: np.ndarray, S: np.ndarray, dS: list[np.ndarray],
                        d2S: dict[tuple[int, int], np.ndarray]
                        ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Kenward & Roger (1997), eq. (2)-(5), dense: returns Φ, Φ_A, W and P."""
    Si = np.linalg.inv(S)
    Phi = np.linalg.inv(X.T @ Si @ X)
    Pm = Si - Si @ X @ Phi @ X.T @ Si
    m = len(dS)
    P = [-X.T @ Si @ D @ Si @ X for D in dS]
    info = np.array([[np.trace(Pm @ dS[i] @ Pm @ dS[j]) for j in range(m)] for i in range(m)])
    W = 2.0 * np.linalg.inv(info)
    U = np.zeros_like(Phi)
    for i in range(m):
        for j in range(m):
            Q = X.T @ Si @ dS[i] @ Si @ dS[j] @ Si @ X
            R = X.T @ Si @ d2S.get((min(i, j), max(i, j)), np.zeros_like(S)) @ Si @ X
            U += W[i, j] * (Q - P[i] @ Phi @ P[j] - 0.25 * R)
    return Phi, Phi + 2.0 * Phi @ U @ Phi, [W, *P]


def kr_df(Phi: np.ndarray, W: np.ndarray, P: list[np.ndarray], L: np.ndarray) -> float:
    """Kenward & Roger's (1997) denominator df of the contrast rows L (their section 4)."""
    L = np.atleast_2d(L)
    q = L.shape[0]
    Theta = L.T @ np.linalg.inv(L @ Phi @ L.T) @ L
    A1 = A2 = 0.0
    for i in range(len(P)):
        for j in range(len(P)):
            Ti = Theta @ Phi @ P[i] @ Phi
            Tj = Theta @ Phi @ P[j] @ Phi
            A1 += W[i, j] * np.trace(Ti) * np.trace(Tj)
            A2 += W[i, j] * np.trace(Ti @ Tj)
    B = (A1 + 6 * A2) / (2 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    c1 = g / (3 * q + 2 * (1 - g))
    c2 = (q - g) / (3 * q + 2 * (1 - g))
    c3 = (q + 2 - g) / (3 * q + 2 * (1 - g))
    Estar = 1 / (1 - A2 / q)
    Vstar = 2 / q * (1 + c1 * B) / ((1 - c2 * B) ** 2 * (1 - c3 * B))
    rho = Vstar / (2 * Estar**2)
    return 4 + (q + 2) / (q * rho - 1)


def same(codes: np.ndarray) -> np.ndarray:
    return (codes[:, None] == codes[None, :]).astype(float)


def test_ar1_residuals_match_the_dense_formula(data: pd.DataFrame) -> None:
    """Σ = v_g J_g + σ² C(φ), C_ij = φ^|t_i − t_j| within h; τ = (v_g, σ², φ)."""
    m = fit("y ~ x + trt + (1 | g)", data, {"correlation": ("cor_ar1", "~ rep | h")})
    vg = (m.sigma * m.theta[0]) ** 2
    s2 = m.sigma**2
    phi = float(m.cor_struct.params.iloc[0])
    g = pd.factorize(data["g"])[0]
    h = pd.factorize(data["h"])[0]
    t = data["rep"].to_numpy(dtype=float)
    lag = np.abs(t[:, None] - t[None, :]) * same(h)
    within = same(h)
    C = np.where(within > 0, phi**lag, 0.0)
    S = vg * same(g) + s2 * C
    dphi = np.where((within > 0) & (lag > 0), lag * phi ** (lag - 1), 0.0)
    d2phi = np.where((within > 0) & (lag > 1), lag * (lag - 1) * phi ** (lag - 2), 0.0)
    dS = [same(g), C, s2 * dphi]
    d2S = {(1, 2): dphi, (2, 2): s2 * d2phi}
    X = np.asarray(m.frame.X)
    np.testing.assert_array_equal(X[:, 1], data["x"])       # rows in the data's order
    Phi, PhiA, (W, *P) = kenward_roger_dense(X, S, dS, d2S)
    kr = kenward_roger(m)
    np.testing.assert_allclose(kr.vcov, Phi, rtol=1e-8)
    np.testing.assert_allclose(m.vcov.to_numpy(), Phi, rtol=1e-6)
    np.testing.assert_allclose(kr.vcov_adj, PhiA, rtol=1e-7)
    for j in range(3):
        assert kr.df(np.eye(3)[j]) == pytest.approx(kr_df(Phi, W, P, np.eye(3)[j]), rel=1e-7)
    assert kr.df(np.eye(3)[1:]) == pytest.approx(kr_df(Phi, W, P, np.eye(3)[1:]), rel=1e-7)
    # the second-derivative term is not negligible here: without it Φ_A differs
    _, PhiA_lin, _ = kenward_roger_dense(X, S, dS, {})
    assert np.max(np.abs(PhiA_lin - PhiA) / np.abs(PhiA)) > 1e-6


def test_ar1_and_cs_terms_match_the_dense_formula(data: pd.DataFrame) -> None:
    """`ar1(0 + f | g)`: G_ab = v ρ^|a−b|; `cs(0 + f | g)`: G_ab = √(v_a v_b) ρ (a ≠ b)."""
    g = pd.factorize(data["g"])[0]
    f = pd.factorize(data["f"], sort=True)[0]
    k = 4
    for kind in ("ar1", "cs"):
        m = fit(f"y ~ x + trt + {kind}(0 + f | g)", data, {})
        X = np.asarray(m.frame.X)
        s2 = m.sigma**2
        sd = m.sigma * m.theta[: (1 if kind == "ar1" else k)]
        rho = float(m.theta[-1])
        Sg = same(g)
        Fa = np.eye(k)[f]                       # n×k indicators of f's levels
        lag = np.abs(f[:, None] - f[None, :])
        if kind == "ar1":
            v = float(sd[0] ** 2)
            S = Sg * v * rho**lag + s2 * np.eye(len(f))
            dS = [Sg * rho**lag, Sg * v * np.where(lag > 0, lag * rho ** (lag - 1.0), 0.0),
                  np.eye(len(f))]
            d2S = {(0, 1): Sg * np.where(lag > 0, lag * rho ** (lag - 1.0), 0.0),
                   (1, 1): Sg * v * np.where(lag > 1, lag * (lag - 1.0) * rho ** (lag - 2.0),
                                             0.0)}
        else:
            v = sd**2
            off = Sg * (lag > 0)
            sroot = np.sqrt(v)[f]
            S = Sg * np.outer(sroot, sroot) * np.where(lag > 0, rho, 1.0) \
                + s2 * np.eye(len(f))
            dS, d2S = [], {}
            for a in range(k):
                ia = Fa[:, a]
                # ∂/∂v_a of √(v_i v_j) ρ^[i≠j]: diagonal entries of level a give 1; pairs with
                # one end at level a give ρ √v_other / (2 √v_a)
                D = Sg * np.outer(ia, ia) * (lag == 0)
                D = D + off * rho * (np.outer(ia, sroot) + np.outer(sroot, ia)) / (
                    2 * np.sqrt(v[a]))
                dS.append(D)
            for a in range(k):
                for b in range(a, k):
                    ia, ib = Fa[:, a], Fa[:, b]
                    if a == b:
                        E = -off * rho * (np.outer(ia, sroot) + np.outer(sroot, ia)) / (
                            4 * v[a] ** 1.5) * (1 - np.outer(ia, ia))
                    else:
                        E = off * rho * (np.outer(ia, ib) + np.outer(ib, ia)) / (
                            4 * np.sqrt(v[a] * v[b]))
                    d2S[(a, b)] = E
            drho = off * np.outer(sroot, sroot)
            dS.append(drho)
            for a in range(k):
                ia = Fa[:, a]
                d2S[(a, k)] = off * (np.outer(ia, sroot) + np.outer(sroot, ia)) / (
                    2 * np.sqrt(v[a]))
            dS.append(np.eye(len(f)))
        Phi, PhiA, (W, *P) = kenward_roger_dense(X, S, dS, d2S)
        kr = kenward_roger(m)
        np.testing.assert_allclose(kr.vcov, Phi, rtol=1e-8, err_msg=kind)
        np.testing.assert_allclose(kr.vcov_adj, PhiA, rtol=1e-6, err_msg=kind)
        for j in range(3):
            assert kr.df(np.eye(3)[j]) == pytest.approx(kr_df(Phi, W, P, np.eye(3)[j]),
                                                        rel=1e-6), kind


def test_ml_fit_is_refused(data: pd.DataFrame) -> None:
    m = fit("y ~ x + trt + (1 | g)", data, {"correlation": ("cor_ar1", "~ rep | h")},
            REML=False)
    with pytest.raises(ValueError, match="only available for REML"):
        kenward_roger(m)


def test_too_large_is_refused() -> None:
    from mixedfx.inference.kenward_roger_structured import check_size

    with pytest.raises(ValueError, match="use ddf='Satterthwaite'"):
        check_size(40_000, 5)
