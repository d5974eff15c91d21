"""The model frame's checks on weights and offsets (`frame.checks`): lme4's refusals, each
naming what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from mixedfx.errors import DataError
from mixedfx.formula import parse_formula
from mixedfx.frame.checks import check_weights, total_offset


@pytest.mark.parametrize("w, glm, message", [
    ([1.0, -1.0], True, "non-negative and finite"),
    ([1.0, np.inf], True, "non-negative and finite"),
    ([1.0, 0.0], False, "positive for lmer"),
    ([0.0, 0.0], True, "all weights are zero"),
])
def test_bad_weights_are_refused(w: list[float], glm: bool, message: str) -> None:
    with pytest.raises(DataError, match=message):
        check_weights(np.array(w), glm)


def test_zero_weights_are_allowed_for_glmer() -> None:
    check_weights(np.array([1.0, 0.0]), glm=True)
    check_weights(None, glm=False)


def test_offsets_add_up_and_must_be_finite() -> None:
    parsed = parse_formula("y ~ x + offset(log(o)) + (1 | g)", ["y", "x", "o", "g"])
    term = np.array([1.0, 2.0])
    np.testing.assert_array_equal(total_offset(parsed, [term], np.array([0.5, 0.25])),
                                  [1.5, 2.25])
    np.testing.assert_array_equal(total_offset(parsed, [term], None), term)
    with pytest.raises(DataError, match=r"offset\(log\(o\)\) has non-finite"):
        total_offset(parsed, [np.array([1.0, -np.inf])], None)
    with pytest.raises(DataError, match="offset must be finite"):
        total_offset(parsed, [term], np.array([0.0, np.nan]))
