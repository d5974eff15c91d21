"""Warnings raised inside mixedfx point at the user's line (mixedfx.warn)."""

from __future__ import annotations

import inspect
import os
import warnings

import numpy as np
import pytest

import mixedfx as mfx
from mixedfx.frame.rows import MissingDataWarning
from mixedfx.optimize.convergence import SINGULAR_MESSAGE
from mixedfx.warn import warn

SL = mfx.datasets.load("sleepstudy")
CBF = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
PACKAGE_DIR = os.path.dirname(mfx.__file__)


def _record(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = fn()
    return caught, line


def _this_line() -> int:
    """The line number of the caller."""
    return inspect.currentframe().f_back.f_lineno


def test_singular_lmer_fit_warns_at_the_callers_line() -> None:
    # sleepstudy with a Days-level intercept: the (1 | Days) variance is estimated at 0
    def fit() -> int:
        line = _this_line() + 1
        mfx.lmer("Reaction ~ Days + (1 | Subject) + (1 | Days)", SL)
        return line

    caught, line = _record(fit)
    singular = [w for w in caught if issubclass(w.category, mfx.SingularFitWarning)]
    assert len(singular) == 1
    assert str(singular[0].message) == SINGULAR_MESSAGE     # message unchanged
    assert singular[0].filename == __file__
    assert singular[0].lineno == line


def test_glmer_convergence_warning_warns_at_the_callers_line() -> None:
    # a gradient tolerance no optimizer meets makes lme4's convergence check complain
    def fit() -> int:
        line = _this_line() + 1
        mfx.glmer(CBF, mfx.datasets.load("cbpp"), family="binomial",
                  control=mfx.Control(check_conv_grad_tol=1e-12))
        return line

    caught, line = _record(fit)
    conv = [w for w in caught if issubclass(w.category, mfx.ConvergenceWarning)]
    assert conv and all(str(w.message).startswith("Model failed to converge with max|grad|")
                        for w in conv)
    assert {w.filename for w in conv} == {__file__}
    assert {w.lineno for w in conv} == {line}


def test_missing_data_warning_points_at_the_caller() -> None:
    data = SL.copy()
    data.loc[[0, 5], "Reaction"] = np.nan

    def fit() -> int:
        line = _this_line() + 1
        mfx.lmer("Reaction ~ Days + (1 | Subject)", data)
        return line

    caught, line = _record(fit)
    missing = [w for w in caught if issubclass(w.category, MissingDataWarning)]
    assert [str(w.message) for w in missing] == ["2 observation(s) deleted due to missingness"]
    assert (missing[0].filename, missing[0].lineno) == (__file__, line)


def _inside_package(source: str, name: str):
    """A function compiled as if it were a module of mixedfx (its frames count as mixedfx's)."""
    namespace = {"warn": warn}
    exec(compile(source, os.path.join(PACKAGE_DIR, "_test_frames.py"), "exec"), namespace)
    return namespace[name]


def test_warn_skips_every_mixedfx_frame_but_no_other() -> None:
    outer = _inside_package("def inner(msg):\n    warn(msg, RuntimeWarning)\n"
                            "def outer(msg):\n    inner(msg)\n", "outer")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = _this_line() + 1
        outer("through two package frames")
        warn("called from outside", UserWarning)
        line2 = _this_line() - 1
    assert [(w.category, str(w.message), w.filename, w.lineno) for w in caught] == [
        (RuntimeWarning, "through two package frames", __file__, line),
        (UserWarning, "called from outside", __file__, line2)]


def test_warn_keeps_the_default_category_and_obeys_filters() -> None:
    with pytest.warns(UserWarning, match="plain"):
        warn("plain")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(RuntimeWarning, match="as error"):
            warn("as error", RuntimeWarning)
