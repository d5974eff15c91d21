"""`cv_to_sv`'s Python-float path for small terms gives the array path's bits."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mixedfx.inference import profile_scale


def _array_path(theta: np.ndarray, ks: list[int], sigma: float) -> np.ndarray:
    old = profile_scale.SCALAR_K
    profile_scale.SCALAR_K = 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return profile_scale.cv_to_sv(theta, ks, sigma)
    finally:
        profile_scale.SCALAR_K = old


def test_scalar_path_equals_the_array_path_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    for _ in range(2000):
        ks = [int(k) for k in rng.integers(1, profile_scale.SCALAR_K + 1,
                                           rng.integers(1, 4))]
        n = sum(k * (k + 1) // 2 for k in ks)
        theta = rng.normal(size=n) * 10.0 ** rng.integers(-8, 8, n)
        special = rng.random(n) < 0.3           # zeros of both signs, extreme magnitudes
        theta[special] = rng.choice([0.0, -0.0, 1e-300, 1e300], special.sum())
        sigma = float(rng.choice([1.0, 2.5, 1e-3, 37.2]))
        fast = profile_scale.cv_to_sv(theta, ks, sigma)
        assert fast.tobytes() == _array_path(theta, ks, sigma).tobytes(), (ks, theta, sigma)


@pytest.mark.parametrize("ks", [[2], [1, 3], [4], [2, 5]])
def test_sleepstudy_like_values(ks) -> None:
    n = sum(k * (k + 1) // 2 for k in ks)
    theta = np.linspace(-0.7, 1.3, n)
    sv = profile_scale.cv_to_sv(theta, ks, 25.6)
    np.testing.assert_array_equal(sv, _array_path(theta, ks, 25.6))
    assert sv[-1] == 25.6
