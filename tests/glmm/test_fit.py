"""glmm.fit's final finiteness test of θ and β (a fit with a non-finite estimate raises
PirlsError): every entry of both, as Python floats."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mixedfx.glmm.fit import _all_finite, _finite_entries


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_entry_anywhere_is_found(bad) -> None:
    theta, beta = np.array([0.5, 0.0]), np.array([1.0, -2.0, 3.0])
    assert _all_finite(theta, beta) and _all_finite(theta, beta[:0])
    for i in range(3):
        b = beta.copy()
        b[i] = bad
        assert not _all_finite(theta, b)
        assert not _all_finite(b[::2] if i != 1 else b, theta)
    assert not _all_finite([[bad]], beta)                  # any array-like shape


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_the_fitted_means_check_is_numpys(bad) -> None:
    """`_finite_entries` (the frame kernel's pass where it serves) answers as
    np.isfinite(a).all(): huge finite entries, a non-finite one anywhere, strided, read-only,
    empty and integer arrays."""
    base = np.array([0.25, 1e308, -1e308, 2.0 ** 1001, 0.0, -0.0, 5e-324])
    cases = [base, base[:0], base[::2], np.arange(5), np.array([[1.0, bad]])]
    for i in range(len(base)):
        b = base.copy()
        b[i] = bad
        cases += [b, b[::-1]]
    frozen = base.copy()
    frozen.flags.writeable = False
    cases.append(frozen)
    for a in cases:
        assert _finite_entries(a) == bool(np.isfinite(a).all())

