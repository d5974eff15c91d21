"""WeightedGram past its memory budget computes B W Bᵀ from the sparse B per evaluation; the
numbers equal the stored-pair path and a dense reference."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import mixedfx as mfx
from mixedfx.lmm import crossproducts, weighted_gram
from mixedfx.lmm.weighted_gram import WeightedGram


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("k1", [1, 2, 3])
def test_direct_equals_pairs_and_dense(k1, compiled, monkeypatch):
    from mixedfx.lmm import sliced

    if compiled:
        if sliced.compiled_kernel() is None:
            pytest.skip("the compiled kernel mixedfx._native.lmm is not built")
    else:
        monkeypatch.setattr(sliced, "_KERNEL", [None])
    rng = np.random.default_rng(3)
    n1, r = 60, 25
    B = sp.random(r, n1 * k1, density=0.2, random_state=4, format="csr")
    if k1 == 1:
        W = rng.uniform(0.1, 1.0, n1)
        Wd = np.diag(W)
    else:
        A = rng.normal(size=(n1, k1, k1))
        W = np.einsum("jab,jcb->jac", A, A) + np.eye(k1)
        Wd = sp.block_diag(list(W)).toarray()
    expected = B.toarray() @ Wd @ B.toarray().T
    pairs = WeightedGram(B, k1, n1)
    assert not pairs.direct
    monkeypatch.setattr(weighted_gram, "PAIR_BYTES_BUDGET", 0)
    direct = WeightedGram(B, k1, n1)
    assert direct.direct and (direct._slice is not None) == compiled
    iu = np.triu_indices(r)
    np.testing.assert_allclose(pairs(W)[iu], expected[iu], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(direct(W)[iu], expected[iu], rtol=1e-12, atol=1e-12)
    P = np.eye(r)
    direct.subtract_from(P, W)
    np.testing.assert_allclose(P[iu], (np.eye(r) - expected)[iu], atol=1e-12)
    # new values of the same B (a PIRLS step's weights) are taken by refresh
    B2 = B.copy()
    B2.data = B2.data * np.linspace(0.5, 2.0, B2.nnz)
    assert direct.refresh(B2)
    expected2 = B2.toarray() @ Wd @ B2.toarray().T
    np.testing.assert_allclose(direct(W)[iu], expected2[iu], rtol=1e-12, atol=1e-12)


def test_lmer_fit_with_the_direct_gram_equals_the_default(monkeypatch):
    from mixedfx.datasets import load

    data = load("sleepstudy")
    rng = np.random.default_rng(0)
    data = data.assign(item=rng.integers(0, 6, len(data)).astype(str))
    formula = "Reaction ~ Days + (Days | Subject) + (1 | item)"
    monkeypatch.setattr(crossproducts, "DENSE_B_LIMIT", 0)     # sparse B, as for big data
    # the two paths round differently, so BOBYQA at lme4's tolerances stops at slightly
    # different points of a flat optimum (2.6e-8 apart in fixef with numpy 1.26): converge
    # both tightly and polish, so that the comparison is of the two objectives
    tight = {"ftol_abs": 1e-12, "xtol_abs": 1e-10, "polish": True}
    m = mfx.lmer(formula, data, control=tight)
    assert not m._fit.chol.gram.direct and not m._fit.chol.gram.dense
    monkeypatch.setattr(weighted_gram, "PAIR_BYTES_BUDGET", 0)
    m_direct = mfx.lmer(formula, data, control=tight)
    assert m_direct._fit.chol.gram.direct
    assert m_direct.loglik == pytest.approx(m.loglik, rel=1e-10)
    np.testing.assert_allclose(m_direct.fixef, m.fixef, rtol=1e-8)


def test_glmer_fit_with_the_direct_gram_equals_the_default(monkeypatch):
    """PIRLS refreshes the direct gram's B at each step's weights (`refresh`).

    The two paths round differently, so BOBYQA stops at different points of the optimum's
    trust region: stage 2 works in whitened coordinates (β in units of its standard
    error) and stops at radius `glmm_xtol_abs` (lme4's 1e-4 by default; the default fits
    differ by 4.5e-5 SE on one OpenBLAS kernel, 4e-8 on another). Both fits are converged
    to a radius of 1e-7 and the fixed effects compared in SE units, with a margin of 100."""
    from mixedfx.datasets import load

    data = load("cbpp")
    data = data.assign(obs=[str(i) for i in range(len(data))])
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | obs)"
    tight = {"glmm_xtol_abs": 1e-7}
    from mixedfx.glmm import pirls

    # the NumPy PIRLS, whose weighted gram this tests (the compiled PIRLS keeps B its own way)
    monkeypatch.setattr(pirls, "for_model", lambda _: None)
    monkeypatch.setattr(crossproducts, "DENSE_B_LIMIT", 0)
    m = mfx.glmer(formula, data, family="binomial", control=tight)
    assert not m._fit.pirls._grams[False].direct
    monkeypatch.setattr(weighted_gram, "PAIR_BYTES_BUDGET", 0)
    m_direct = mfx.glmer(formula, data, family="binomial", control=tight)
    assert m_direct._fit.pirls._grams[False].direct
    assert m_direct.loglik == pytest.approx(m.loglik, rel=1e-12)
    se = np.sqrt(np.diag(np.asarray(m.vcov)))
    assert np.max(np.abs(np.asarray(m_direct.fixef) - np.asarray(m.fixef)) / se) < 1e-5
