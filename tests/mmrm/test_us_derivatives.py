"""The analytic derivatives of the unstructured Σ against the complex step (first
derivatives, exact to rounding) and central differences of it (second, O(δ²))."""

from __future__ import annotations

import numpy as np
import pytest

from mixedfx.mmrm.structures import STRUCTURE_TABLE
from mixedfx.mmrm.us_derivatives import us_hessian, us_jacobian

US = STRUCTURE_TABLE["us"]


def _complex_jac(th: np.ndarray, m: int) -> np.ndarray:
    out = []
    for k in range(len(th)):
        z = th.astype(complex)
        z[k] += 1e-20j
        out.append(US.sigma(z, m).imag / 1e-20)
    return np.array(out)


@pytest.mark.parametrize("m", [1, 2, 4, 6])
def test_first_derivatives_match_complex_step(m: int) -> None:
    th = np.random.default_rng(m).normal(size=US.n_params(m))
    J = us_jacobian(th, m)
    np.testing.assert_allclose(J, _complex_jac(th, m), rtol=1e-12, atol=1e-12)
    assert np.allclose(J, J.transpose(0, 2, 1))


@pytest.mark.parametrize("m", [2, 3, 5])
def test_second_derivatives_match_differences(m: int) -> None:
    th = 0.5 * np.random.default_rng(10 + m).normal(size=US.n_params(m))
    H = us_hessian(th, m)
    d = 1e-5
    for ell in range(len(th)):
        up, dn = th.copy(), th.copy()
        up[ell] += d
        dn[ell] -= d
        num = (_complex_jac(up, m) - _complex_jac(dn, m)) / (2 * d)   # ∂/∂θ_ℓ of ∂Σ/∂θ_k
        # central differences are accurate to O(δ²) · |∂⁴Σ| ≈ 1e-10 here
        np.testing.assert_allclose(H[:, ell], num, rtol=1e-7, atol=1e-7)
    assert np.allclose(H, H.transpose(1, 0, 2, 3))
    assert np.allclose(H, H.transpose(0, 1, 3, 2))


@pytest.mark.parametrize("m", [1, 3, 5])
def test_contracted_second_derivatives(m: int) -> None:
    from mixedfx.mmrm.us_derivatives import us_hessian_contracted

    rng = np.random.default_rng(20 + m)
    th = rng.normal(size=US.n_params(m))
    M = rng.normal(size=(m, m))
    M = M + M.T
    full = np.einsum("abtu,tu->ab", us_hessian(th, m), M)
    np.testing.assert_allclose(us_hessian_contracted(th, m, M), full, rtol=1e-12,
                               atol=1e-12 * np.abs(full).max())
