"""The driver's reading of a run the objective made from compiled code (`RunRecord`): the
errors and fallbacks of the Python guard."""

from __future__ import annotations

import nlopt
import numpy as np
import pytest

from mixedfx.errors import ConvergenceError
from mixedfx.optimize import Control
from mixedfx.optimize.driver import INF_STREAK, _native_outcome, _run_nlopt
from mixedfx.optimize.native_run import (
    STOP_INF_STREAK,
    STOP_NAN,
    STOP_NEGINF,
    STOP_NONE,
    RunRecord,
)


def _run(code: int, stop: int = STOP_NONE, best: bool = True, fx: float = 1.5) -> RunRecord:
    return RunRecord(code=code, x=np.array([1.0, 2.0]), fx=fx,
                     best_x=np.array([3.0, 4.0]) if best else None,
                     best_f=0.5 if best else np.inf, stop=stop,
                     bad_x=np.array([5.0, 6.0]), evaluations=7)


def test_success_returns_nlopts_point_and_code() -> None:
    x, fx, code = _native_outcome(_run(nlopt.FTOL_REACHED))
    assert list(x) == [1.0, 2.0] and fx == 1.5 and code == "NLOPT_FTOL_REACHED"
    with pytest.raises(ConvergenceError, match="every"):
        _native_outcome(_run(nlopt.FTOL_REACHED, best=False, fx=np.inf))


def test_failures_return_the_best_point() -> None:
    assert _native_outcome(_run(nlopt.ROUNDOFF_LIMITED))[2] == "NLOPT_ROUNDOFF_LIMITED"
    x, fx, code = _native_outcome(_run(nlopt.FAILURE))
    assert list(x) == [3.0, 4.0] and fx == 0.5 and code == "NLOPT_FAILURE"
    with pytest.raises(ConvergenceError, match="before finding"):
        _native_outcome(_run(nlopt.FAILURE, best=False))
    with pytest.raises(ValueError, match="refused"):
        _native_outcome(_run(nlopt.INVALID_ARGS))


@pytest.mark.parametrize(("stop", "match"), [
    (STOP_NAN, r"NaN at theta/beta = \[5\. 6\.\]"),
    (STOP_NEGINF, "-Inf"),
    (STOP_INF_STREAK, f"first {INF_STREAK}"),
])
def test_stops_raise_the_guards_errors(stop, match) -> None:
    with pytest.raises(ConvergenceError, match=match):
        _native_outcome(_run(nlopt.FORCED_STOP, stop=stop))


class _Objective:
    """A quadratic that offers a native run; records what the driver passed."""

    def __init__(self, record: RunRecord | None) -> None:
        self.record, self.calls, self.args = record, 0, None

    def __call__(self, x: np.ndarray) -> float:
        self.calls += 1
        return float(np.sum((np.asarray(x) - 0.5) ** 2))

    def minimize_natively(self, *args):
        self.args = args
        return self.record


def test_the_driver_takes_the_native_run_unless_declined_or_timed() -> None:
    lower, upper = np.zeros(2), np.full(2, np.inf)
    f = _Objective(_run(nlopt.XTOL_REACHED))
    x, _, code = _run_nlopt(f, np.array([-1.0, 3.0]), lower, upper, Control())
    assert f.calls == 0 and code == "NLOPT_XTOL_REACHED" and list(x) == [1.0, 2.0]
    algorithm, x0, lo, hi, xtol, ftol, maxeval, step, inf_limit = f.args
    assert algorithm == nlopt.LN_BOBYQA and list(x0) == [0.0, 3.0]      # clipped start
    assert lo is lower and hi is upper
    assert (xtol, ftol, maxeval, step, inf_limit) == (1e-8, 1e-8, 1000, None, INF_STREAK)
    declined = _Objective(None)
    x, _, _ = _run_nlopt(declined, np.array([2.0, 3.0]), lower, upper, Control())
    assert declined.calls > 0 and np.allclose(x, 0.5, atol=1e-3)
    for control in (Control(max_time=10.0), Control(optimizer="cobyla")):
        g = _Objective(_run(nlopt.XTOL_REACHED))
        _run_nlopt(g, np.array([2.0, 3.0]), lower, upper, control)
        assert g.args is None and g.calls > 0
