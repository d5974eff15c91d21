"""Shared helpers for the frame tests."""

from collections.abc import Callable, Sequence

import numpy as np
import pytest


def _nearly_dependent_design(rng: np.random.Generator, bad: Sequence[float]) -> np.ndarray:
    """A random n x p design (p <= 6) for the rank checks: half the time one column a linear
    combination of the earlier ones plus noise of scale 0, 1e-5, 1e-3 or 1e-2; a tenth of
    the time a zero column; a twentieth a non-finite or huge entry drawn from `bad`."""
    p = int(rng.integers(1, 7))
    X = rng.normal(size=(int(rng.integers(p, 40)), p))
    if p > 1 and rng.random() < 0.5:
        j = int(rng.integers(1, p))
        X[:, j] = X[:, :j] @ rng.normal(size=j) \
            + rng.choice([0, 1e-5, 1e-3, 1e-2]) * rng.normal(size=len(X))
    if rng.random() < 0.1:
        X[:, rng.integers(0, p)] = 0.0
    if rng.random() < 0.05:
        X[0, rng.integers(0, p)] = rng.choice(np.asarray(bad, dtype=float))
    return X


@pytest.fixture
def nearly_dependent_design() -> Callable[[np.random.Generator, Sequence[float]], np.ndarray]:
    """`_nearly_dependent_design`."""
    return _nearly_dependent_design
