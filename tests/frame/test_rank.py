"""The rank check (`frame.rank`): lme4 keeps the columns R's pivoting QR (tolerance 1e-7) puts
first. The one-pass Gram test for clearly independent columns must agree with the sequential
Gram–Schmidt rule on every kind of matrix."""

from __future__ import annotations

import numpy as np
import pytest

from mixedfx.frame.rank import independent_columns, orthonormal_basis


def _cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    n = 40
    x = rng.standard_normal(n)
    g = np.repeat(np.arange(4), 10)
    dummies = (g[:, None] == np.arange(4)).astype(float)
    return {
        "random": rng.standard_normal((n, 5)),
        "scaled": np.column_stack([np.ones(n), 1e6 * x, 1e-6 * rng.standard_normal(n)]),
        "all dummies": np.column_stack([np.ones(n), dummies]),          # R drops the last
        "exact copy": np.column_stack([np.ones(n), x, 2 * x + 1]),
        "zero column": np.column_stack([np.ones(n), np.zeros(n), x]),
        "nearly dependent": np.column_stack([np.ones(n), x, x + 1e-9 * rng.standard_normal(n)]),
        "just independent": np.column_stack([np.ones(n), x, x + 1e-5 * rng.standard_normal(n)]),
        "wide": rng.standard_normal((3, 5)),
        "tall one column": np.ones((n, 1)),
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_fast_path_agrees_with_gram_schmidt(name: str) -> None:
    X = _cases()[name]
    assert independent_columns(X).tolist() == orthonormal_basis(X)[1]


def test_known_answers() -> None:
    cases = _cases()
    assert independent_columns(cases["all dummies"]).tolist() == [0, 1, 2, 3]
    assert independent_columns(cases["exact copy"]).tolist() == [0, 1]
    assert independent_columns(cases["zero column"]).tolist() == [0, 2]
    assert independent_columns(cases["nearly dependent"]).tolist() == [0, 1]
    assert independent_columns(cases["just independent"]).tolist() == [0, 1, 2]
    assert independent_columns(cases["wide"]).tolist() == [0, 1, 2]


def test_basis_is_orthonormal() -> None:
    Q, kept = orthonormal_basis(_cases()["scaled"])
    np.testing.assert_allclose(Q.T @ Q, np.eye(len(kept)), atol=1e-12)


def test_small_gram_test_agrees_with_lapack_cholesky(nearly_dependent_design) -> None:
    """`_clear_pivots` (Gaussian elimination in Python floats, up to 6 columns) decides as
    LAPACK's Cholesky of the same Gram matrix on random, nearly dependent, zero and
    non-finite columns."""
    from mixedfx.frame.rank import _CLEAR, _clear_pivots
    rng = np.random.default_rng(3)
    for _ in range(3000):
        X = nearly_dependent_design(rng, [np.inf])
        with np.errstate(all="ignore"):
            G = X.T @ X
        d = np.sqrt(np.abs(np.diag(G)))
        try:
            want = bool(np.all(np.isfinite(G)) and np.all(d > 0)
                        and np.all(np.diag(np.linalg.cholesky(G)) > _CLEAR * d))
        except np.linalg.LinAlgError:
            want = False
        assert _clear_pivots(G.tolist()) == want
