"""`frame.cbind`: a cbind() of sums and differences of bare columns, planned once per text,
gives `evaluate_response`'s array to the bit, by the compiled `frame` kernel (`column_sums`)
and by NumPy's arithmetic (columns not C-ordered, programs deeper than the kernel's stack);
other responses have no plan; the kernel refuses malformed programs."""

from __future__ import annotations

import numpy as np
import pytest

from mixedfx import native
from mixedfx.formula import evaluate_response
from mixedfx.formula.columns import Column, ColumnTable
from mixedfx.frame.cbind import cbind_plan

K = native.kernel("frame")


@pytest.mark.skipif(K is None, reason="the frame kernel is not built")
def test_column_sums_are_numpys_arithmetic() -> None:
    rng = np.random.default_rng(7)
    n = 37
    data = {"a": rng.normal(size=n) * 1e3, "b": rng.integers(-50, 50, n).astype(float),
            "c": rng.normal(size=n) / 3, "d": np.asfortranarray(rng.normal(size=(n, 2)))[:, 0]}
    table = ColumnTable.from_columns(n, {k: Column("numeric", v) for k, v in data.items()})
    names = tuple(data)
    texts = ["cbind(a, b - a)", "cbind(-a, -(b - c) + a)", "cbind((a + b) - (c - a), c)",
             "cbind(a - b - c - a + b, +c)", "cbind(b, a - (b - (c - (a - (b - c)))))",
             "cbind(a, " + " - ".join(["b"] * 300) + ")",
             "cbind(a, " + "(a - " * 70 + "b" + ")" * 70 + ")"]     # deeper than the stack
    for text in texts:
        plan = cbind_plan(text, names)
        assert plan is not None, text
        want = plan.evaluate(table, None)        # NumPy's arithmetic
        with np.errstate(all="raise"):
            got = plan.evaluate(table, K)
        assert got.tobytes() == want.tobytes() and got.shape == want.shape, text
        general = evaluate_response(text, table)
        assert general.tobytes() == want.tobytes() and general.shape == want.shape, text
    d_plan = cbind_plan("cbind(a, d - a)", names)    # a strided column: NumPy's way
    assert d_plan.evaluate(table, K).tobytes() == d_plan.evaluate(table, None).tobytes()
    out = np.empty((n, 2))
    with pytest.raises(ValueError, match="malformed"):
        K.column_sums(out, (data["a"],), bytes([0, 253, 1, 253]))       # no column 1
    with pytest.raises(ValueError, match="malformed"):
        K.column_sums(out, (data["a"],), bytes([0, 253]))               # one output short
    with pytest.raises(ValueError, match="malformed"):
        K.column_sums(out, (data["a"],), bytes([0, 0, 253, 0, 253]))    # left on the stack
    with pytest.raises(ValueError, match="length is not n"):
        K.column_sums(out, (data["a"][:5],), bytes([0, 253, 0, 253]))


def test_only_sums_and_differences_of_columns_have_a_plan() -> None:
    names = ("s", "n", "x")
    for text in ("cbind(s, n - s)", "cbind((s), -x + (n - s))", "cbind(+s, -(n))"):
        assert cbind_plan(text, names) is not None, text
    for text in ("cbind(s, 2 * n)", "cbind(s, log(n))", "cbind(s, I(n))", "cbind(s, n - 1)",
                 "s", "log(s)", "s / n"):
        assert cbind_plan(text, names) is None, text
    plan = cbind_plan("cbind(s, n - s - s)", names)
    assert plan.columns == ("s", "n") and plan.postfix == bytes([0, 253, 1, 0, 252, 0, 252, 253])
