"""The model frame's fast first steps (`frame.fast`): for every input they take, the model frame
is the general steps' bit for bit (arrays, dtypes, names, levels, specs, terms, the pandas frame,
the rows); every other input (missing values, infinite values, weights, transformations, ...)
goes through the general steps, with their warnings and errors; and nothing remembered between
fits (the plan per formula, the design spec per column signature) carries one data's values or
levels into another fit.

The reference is `build_model_frame` with the fast steps switched off (the general steps, whose
R values the rest of tests/frame checks)."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.errors import DataError
from mixedfx.frame import model_frame
from mixedfx.frame.fast import _plan, fast_front
from mixedfx.frame.model_frame import ModelFrame, build_model_frame


def assert_same(a: Any, b: Any, path: str = "frame") -> None:
    """Bit-for-bit equality of two model frames, down to each array's bytes, dtype, shape
    and writeability, each object's type and each dict's key order."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), path
        assert (a.dtype, a.shape, a.flags.writeable) == (b.dtype, b.shape, b.flags.writeable), \
            path
        assert a.tobytes() == b.tobytes(), path
        return
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        assert a.columns.equals(b.columns) and a.columns.dtype == b.columns.dtype, path
        return
    if isinstance(a, pd.Index):
        assert type(a) is type(b) and a.equals(b), path
        return
    assert type(a) is type(b), (path, type(a), type(b))
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif type(a).__module__.startswith("mixedfx") and hasattr(a, "__dict__"):
        da, db = dict(vars(a)), dict(vars(b))
        if isinstance(a, ModelFrame):
            assert_same(a.frame, b.frame, f"{path}.frame")
            da.pop("_frame_value"), db.pop("_frame_value")
        assert list(da) == list(db), path
        for k in da:
            assert_same(da[k], db[k], f"{path}.{k}")
    elif type(a).__module__.startswith("mixedfx") and hasattr(a, "__slots__"):
        for k in a.__slots__:
            assert_same(getattr(a, k), getattr(b, k), f"{path}.{k}")
    else:
        assert a == b, (path, a, b)


def general(formula: str, data: Any, **kw: Any) -> ModelFrame:
    """The model frame from the general steps alone."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(model_frame, "fast_front", lambda *a: None)
        return build_model_frame(formula, data, **kw)


def fast(formula: str, data: Any, **kw: Any) -> ModelFrame:
    """The model frame with the fast steps, checked to be taken."""
    assert fast_front(formula, data, kw.get("require_random", True), kw.get("glm", False)) \
        is not None
    return build_model_frame(formula, data, **kw)


@pytest.fixture(scope="module")
def sleepstudy() -> pd.DataFrame:
    return mfx.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def cbpp() -> pd.DataFrame:
    return mfx.datasets.load("cbpp")


_TEXT_DTYPE = "str" if isinstance(pd.Series([], dtype="str").dtype, pd.StringDtype) \
    else "string"


def _mixed(n: int = 48, seed: int = 3) -> pd.DataFrame:
    """Columns of every kind the fast steps read: float, integers, categorical (ordered too),
    pandas strings."""
    rng = np.random.default_rng(seed)
    index = pd.Index([f"r{i}" for i in range(n)], name="row")
    return pd.DataFrame({
        "y": rng.standard_normal(n),
        "count": rng.integers(0, 20, n),
        "x": rng.standard_normal(n),
        "k": rng.integers(1, 5, n).astype(np.int32),
        "f": pd.Categorical(["lo", "mid", "hi"] * (n // 3), categories=["lo", "mid", "hi"]),
        "o": pd.Categorical(["a", "b", "c", "d"] * (n // 4), ordered=True),
        # pandas' default text dtype (pandas >= 3; pandas 2's "str" is object, which the fast
        # steps leave to the general ones)
        "g": pd.Series([f"s{i % 8}" for i in range(n)], dtype=_TEXT_DTYPE, index=index),
        "h": pd.Series([f"B{i % 3}" for i in range(n)], dtype="string", index=index),
    }, index=index)


CASES = [
    ("Reaction ~ Days + (Days | Subject)", "sleep", {}),
    ("Reaction ~ Days + (Days || Subject)", "sleep", {}),
    ("Reaction ~ 0 + Days + (1 | Subject)", "sleep", {}),
    ("Reaction ~ 1 + (1 | Subject)", "sleep", {}),
    ("log(Reaction) ~ Days + (1 | Subject)", "sleep", {}),
    ("Reaction ~ Days + (Days | Subject)", "sleep", {"na_action": "exclude"}),
    ("Reaction ~ Days + (1 | Subject)", "sleep", {"require_random": False}),
    ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp", {"glm": True}),
    ("cbind(incidence, size - incidence) ~ 0 + period + (1 | herd)", "cbpp", {"glm": True}),
    ("incidence ~ period + (1 | herd)", "cbpp", {}),
    # cbind() of sums and differences of columns (integers, floats, signs, parentheses)
    ("cbind(count, k - count + k) ~ x + (1 | g)", "mixed", {"glm": True}),
    ("cbind(-(count), (k) + x - count + (+y)) ~ x + (1 | g)", "mixed", {"glm": True}),
    ("cbind(count, 2 * k) ~ x + (1 | g)", "mixed", {"glm": True}),      # (not a sum)
    ("y ~ x * f + o + (1 | g)", "mixed", {}),
    ("y ~ x:f + (x | g) + (1 | h)", "mixed", {}),
    ("y ~ 0 + f + k + (1 | g:h)", "mixed", {}),
    ("count ~ x + (1 | k)", "mixed", {}),
    ("count ~ x + o + (1 | g)", "mixed", {"glm": True}),
    ("y ~ x + diag(x | g)", "mixed", {}),
    ("y ~ x + us(1 + x | g) + (1 | f)", "mixed", {}),
]


def _datasets(sleepstudy: pd.DataFrame, cbpp: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {"sleep": sleepstudy, "cbpp": cbpp, "mixed": _mixed()}


@pytest.mark.parametrize(("formula", "data", "kw"), CASES)
def test_fast_steps_give_the_general_frame(formula: str, data: str, kw: dict[str, Any],
                                           sleepstudy: pd.DataFrame,
                                           cbpp: pd.DataFrame) -> None:
    df = _datasets(sleepstudy, cbpp)[data]
    expected = general(formula, df, **kw)
    # the first fit builds the design specs, the second copies the remembered ones
    for _ in range(2):
        assert_same(fast(formula, df, **kw), expected)


def test_instevel_scale_factors() -> None:
    data = mfx.datasets.load("InstEval").iloc[:5000]
    formula = "y ~ service + studage + (1 | s) + (1 | d) + (1 | dept:service)"
    expected = general(formula, data)
    for _ in range(2):
        assert_same(fast(formula, data), expected)


def _frames_agree(formula: str, data: pd.DataFrame, declined: bool = True, **kw: Any) -> None:
    """Both ways give the same frame, warnings and errors; `declined`: the fast steps decline
    the input (unless not tried: weights, offset)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # (compared below)
        taken = fast_front(formula, data, kw.get("require_random", True), kw.get("glm", False))
    assert "weights" in kw or "offset" in kw or (taken is None) == declined
    outcomes = []
    for build in (general, build_model_frame):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                outcomes.append((build(formula, data, **kw), None))
            except Exception as exc:     # (the same error both ways)
                outcomes.append((None, (type(exc), str(exc))))
        outcomes[-1] += ([(w.category, str(w.message)) for w in caught],)
    (f1, e1, w1), (f2, e2, w2) = outcomes
    assert e1 == e2 and w1 == w2
    if e1 is None:
        assert_same(f2, f1)


def test_inputs_left_to_the_general_steps() -> None:
    df = _mixed()
    nan = df.assign(x=df["x"].where(df.index != "r3"))
    _frames_agree("y ~ x + (1 | g)", nan)                       # a missing value: dropped
    _frames_agree("y ~ x + (1 | g)", nan, na_action="fail")     # ... or refused
    _frames_agree("y ~ x + (1 | g)", df.assign(x=df["x"].where(df.index != "r5", np.inf)))
    _frames_agree("y ~ f + (1 | g)", df.assign(f=df["f"].where(df.index != "r1")))
    _frames_agree("y ~ x + (1 | g)", df.assign(g=df["g"].where(df.index != "r2")))
    _frames_agree("y ~ x + (1 | g)", df, weights=np.ones(len(df)))
    _frames_agree("y ~ x + (1 | g)", df, offset="x")
    _frames_agree("y ~ x + offset(k) + (1 | g)", df)
    _frames_agree("y ~ log(k) + (1 | g)", df)                   # a transformation
    _frames_agree("y ~ . - count - h - o + (1 | g)", df)        # `.`
    _frames_agree("y ~ x + (1 | g)", df.assign(x=df["x"].astype(np.float32)))
    _frames_agree("y ~ b + (1 | g)", df.assign(b=df["k"] > 2))             # booleans
    _frames_agree("y ~ x + (1 | g)", df.assign(g=df["g"].astype(object)))  # objects
    _frames_agree("f ~ x + (1 | g)", df, glm=True)              # a factor response
    _frames_agree("log(y) ~ x + (1 | g)", df)                   # NaN rows from log
    _frames_agree("y ~ x", df)                                  # no random term: refused
    _frames_agree("y ~ x + (1 | g)", df.iloc[:0])               # no rows


def test_errors_from_checks_after_the_first_steps() -> None:
    df = _mixed()
    _frames_agree("y ~ x + (1 | g)", df.assign(y=1.0), declined=False)   # constant response
    _frames_agree("y ~ x + (x | f)", df, declined=False)        # 3 levels: fine
    _frames_agree("y ~ x + (1 | g)", df.iloc[:8], declined=False)   # as many levels as rows
    # huge finite numbers: X'X overflows (warned once), x is dropped as dependent
    _frames_agree("y ~ x + (1 | g)", df.assign(x=df["x"] * 1e200), declined=False)
    # ... a product that overflows: declined without a warning, the general steps refuse it
    big = df.assign(x=df["x"] * 1e200, z=df["x"] * 1e200)
    _frames_agree("y ~ x:z + (1 | g)", big)
    _frames_agree("y ~ x + (1 | g)", df.assign(x=np.where(df.index == "r0", np.inf, -np.inf)))
    # the fast steps run, the shared later checks refuse: the general steps' message
    one_group = df.assign(g=pd.Series(["s"] * len(df), dtype="str", index=df.index))
    with pytest.raises(DataError, match="grouping factors must have > 1 sampled level"):
        build_model_frame("y ~ x + (1 | g)", one_group)
    ew = df.assign(x2=2 * df["x"])
    with pytest.warns(UserWarning, match="rank deficient so dropping 1 column"):
        mf = build_model_frame("y ~ x + x2 + (1 | g)", ew)
    assert mf.fixef_names == ["(Intercept)", "x"]
    with pytest.warns(UserWarning, match="rank deficient"):
        assert_same(mf, general("y ~ x + x2 + (1 | g)", ew))


def test_nothing_carries_over_between_data() -> None:
    formula = "y ~ x + f + (1 | g)"
    df = _mixed()
    first = fast(formula, df)
    # other values, same kinds: the new values
    other = _mixed(seed=11)
    assert_same(fast(formula, other), general(formula, other))
    assert not np.array_equal(fast(formula, other).X, first.X)
    # other levels of a design factor: a spec of their own (names, contrasts)
    relabelled = df.assign(f=df["f"].cat.rename_categories(["p", "q", "r"]))
    mf = fast(formula, relabelled)
    assert mf.fixef_names == ["(Intercept)", "x", "fq", "fr"]
    assert_same(mf, general(formula, relabelled))
    # an unused category: dropped, as the general steps drop it
    unused = df.assign(f=df["f"].cat.add_categories(["zz"]))
    assert_same(fast(formula, unused), general(formula, unused))
    # fewer rows, same kinds
    assert_same(fast(formula, df.iloc[:30]), general(formula, df.iloc[:30]))
    # a different order of the same levels
    reordered = df.assign(f=df["f"].cat.reorder_categories(["hi", "lo", "mid"]))
    assert fast(formula, reordered).fixef_names == ["(Intercept)", "x", "flo", "fmid"]


def test_a_changed_frame_gives_its_new_values() -> None:
    formula = "y ~ x + (x | g)"
    df = _mixed()
    before = fast(formula, df)
    df.loc["r0", "x"] = 100.0                  # in place
    df["y"] = df["y"] * 2                      # a new column
    after = fast(formula, df)
    assert after.X[0, 1] == 100.0 and before.X[0, 1] != 100.0
    np.testing.assert_array_equal(after.y, before.y * 2)
    assert_same(after, general(formula, df))
    # the model frame keeps the data as fitted
    df.loc["r1", "x"] = -5.0
    assert after.frame["x"].iloc[1] != -5.0
    # the arrays are the fit's own
    after.y[0] = 0.0
    assert df["y"].iloc[0] != 0.0
    counts = fast("count ~ x + (1 | g)", df)
    counts.y[:] = -1.0
    counts.X[:] = -1.0
    assert (df["count"] >= 0).all() and (df["x"] != -1.0).all()
    assert (counts.frame["count"] >= 0).all()


def test_formulas_do_not_share_specs() -> None:
    df = _mixed()
    a = fast("y ~ f + (1 | g)", df)
    b = fast("y ~ 0 + f + (1 | g)", df)
    assert a.fixef_names == ["(Intercept)", "fmid", "fhi"]
    assert b.fixef_names == ["flo", "fmid", "fhi"]
    # each fit owns its specs: changing one leaves the next fit's alone
    a.fixed_design.names.append("junk")
    a.terms[0].design.names.append("junk")
    assert fast("y ~ f + (1 | g)", df).fixed_design.names == ["(Intercept)", "fmid", "fhi"]


def test_concurrent_fits_agree_with_sequential_ones(sleepstudy: pd.DataFrame,
                                                    cbpp: pd.DataFrame) -> None:
    datas = _datasets(sleepstudy, cbpp)
    jobs = [(f, datas[d], kw) for f, d, kw in CASES] * 6
    expected = [general(f, d, **kw) for f, d, kw in jobs]
    _plan.cache_clear()             # the pool fills the caches
    with ThreadPoolExecutor(max_workers=6) as pool:
        got = list(pool.map(lambda job: build_model_frame(job[0], job[1], **job[2]), jobs))
    for g, e in zip(got, expected, strict=True):
        assert_same(g, e)


def test_cbind_sums_are_evaluated_by_the_plan_and_the_rest_by_evaluate_response() -> None:
    df = _mixed()
    names = tuple(df.columns)
    assert _plan("cbind(count, k - count) ~ x + (1 | g)", names).cbind is not None
    assert _plan("cbind(count, 2 * k) ~ x + (1 | g)", names).cbind is None
    formula = "cbind(count, k - count + x) ~ x + (1 | g)"
    # numbers above 2^1000: their sums may overflow, evaluate_response (guarded) is used
    for scale in (2.0 ** 999, 2.0 ** 1001, 1e307):
        big = df.assign(x=df["x"] * scale)
        _frames_agree(formula, big, declined=False, glm=True)
    overflow = df.assign(x=np.full(len(df), 1.7e308), count=np.full(len(df), 1.7e308))
    _frames_agree("cbind(x + count, k) ~ k + (1 | g)", overflow, glm=True)   # +Inf: refused
    # missing and infinite counts, factors: the general steps
    _frames_agree(formula, df.assign(count=df["count"].where(df.index != "r2")), glm=True)
    _frames_agree(formula, df.assign(x=df["x"].where(df.index != "r2", np.inf)), glm=True)
    _frames_agree("cbind(count, k - f) ~ x + (1 | g)", df, glm=True)
    _frames_agree("cbind(count, k - count) ~ x + (1 | g)", df.assign(k=df["k"] > 2), glm=True)


def test_intercept_only_terms_are_each_fits_own_ones() -> None:
    df = _mixed()
    formula = "y ~ x + (1 | g) + (1 | h)"
    first = fast(formula, df)
    first.terms[0].values[:] = 5.0              # the fit's own array
    for data in (df, df.iloc[:30], df):         # the remembered ones of another row count
        mf = fast(formula, data)
        assert_same(mf, general(formula, data))
        assert [t.values.flags.writeable for t in mf.terms] == [True, True]
        assert mf.terms[0].values is not mf.terms[1].values
