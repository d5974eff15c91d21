"""lowess against R's `lowess(cars)` (values printed by R 4.2.2, stats::lowess)."""

import numpy as np
import pytest

from mixedfx.diagnostics import lowess

SPEED = [4, 4, 7, 7, 8, 9, 10, 10, 10, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14,
         15, 15, 15, 16, 16, 17, 17, 17, 18, 18, 18, 18, 19, 19, 19, 20, 20, 20, 20, 20, 22, 23,
         24, 24, 24, 24, 25]
DIST = [2, 10, 4, 22, 16, 10, 18, 26, 34, 17, 28, 14, 20, 24, 28, 26, 34, 34, 46, 26, 36, 60,
        80, 20, 26, 54, 32, 40, 32, 40, 50, 42, 56, 76, 84, 36, 46, 68, 32, 48, 52, 56, 64, 66,
        54, 70, 92, 93, 120, 85]
# R: unique(round(lowess(cars)$y, 6))
R_Y = [4.965459, 13.124495, 15.858633, 18.579691, 21.280313, 24.129277, 27.119549, 30.027276,
       32.962506, 36.757728, 40.435075, 43.463492, 46.885479, 50.793152, 56.491224, 67.585824,
       73.079695, 78.643164, 84.328698]


def test_lowess_matches_r_on_cars():
    x, y = lowess(np.array(SPEED, float), np.array(DIST, float))
    assert np.array_equal(x, np.sort(SPEED))
    np.testing.assert_allclose(np.unique(np.round(y, 6)), R_Y, atol=1e-6)


def test_lowess_refuses_mismatched_input():
    with pytest.raises(ValueError, match="same length"):
        lowess(np.arange(3.0), np.arange(4.0))
