"""Formula text must never execute code: everything outside the whitelist is refused."""

from __future__ import annotations

import builtins
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mixedfx.formula import FormulaError, build_design, evaluate_response, parse_formula

COLS = ["y", "x", "g"]


def _attacks(target: Path) -> list[str]:
    t = str(target)
    return [
        f'y ~ __import__("os").system("touch {t}") + (1|g)',
        f"y ~ x + I(__import__('os').system('touch {t}'))",
        'y ~ eval("1") + (1|g)',
        "y ~ x.__class__ + (1|g)",
        f"y ~ x + I(open('{t}', 'w'))",
        "y ~ x + I(x.__class__.__bases__)",
        f"y ~ exec(\"open('{t}','w')\") + (1|g)",
        "y ~ x[0] + (1|g)",
        "y ~ x; import os",
        "y ~ lambda: 1",
        "y ~ (lambda q: q)(x)",
        "y ~ x if x else g",
        "y ~ {x}",
        "y ~ x == 1",
        "y ~ x + (a := 1)",
        "y ~ np.log(x)",
        "y ~ os.system(x)",
        "y ~ base::log(x)",
        "y ~ x$a",
        "y ~ x@a",
        "y ~ I(x) + getattr(x, 'y')",
        "y ~ `__import__`(x)",
        "y ~ log(x) + I(x)(1)",
        "y ~ x + I(`os`)",
        "y ~ x # comment",
        "y ~ x \\ g",
        "__import__('os').system('id') ~ x",
        "y ~ x + poly(x, __import__)",
        "y ~ x + I(x ** __import__)",
        "y ~ x + (1 | __import__)",
        "y ~ x + (1 | g.__class__)",
        "y ~ x + `x`.__class__",
    ]


@pytest.fixture
def target(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


def test_parse_formula_refuses_code(target: Path) -> None:
    for formula in _attacks(target):
        with pytest.raises(FormulaError):
            parse_formula(formula, COLS)
    assert not target.exists()


def test_build_design_refuses_code(target: Path) -> None:
    data = pd.DataFrame({"y": [1.0, 2.0, 3.0], "x": [1.0, 2.0, 4.0], "g": ["a", "b", "a"]})
    for formula in _attacks(target):
        lhs, _, rhs = formula.partition("~")
        if "__" in lhs:
            continue  # the attack is in the response, which build_design never sees
        with pytest.raises(FormulaError):
            build_design(rhs, data)
    assert not target.exists()


def test_evaluate_response_refuses_code(target: Path) -> None:
    data = pd.DataFrame({"y": [1.0, 2.0], "x": [1.0, 2.0]})
    for expr in [
        f"__import__('os').system('touch {target}')",
        "y.__class__",
        "eval('1')",
        "y; x",
        "cbind(y, __import__)",
    ]:
        with pytest.raises(FormulaError):
            evaluate_response(expr, data)
    assert not target.exists()


def test_the_documented_examples_name_the_problem() -> None:
    cases = {
        'y ~ __import__("os").system("touch /tmp/pwned") + (1|g)': "'__'",
        "y ~ x + I(__import__('os').system('x'))": "'__'",
        'y ~ eval("1") + (1|g)': "string literals",
        "y ~ x.__class__ + (1|g)": "'__'",
    }
    for formula, fragment in cases.items():
        with pytest.raises(FormulaError, match=fragment):
            parse_formula(formula, COLS)


def test_no_eval_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsing and building never go through eval/exec/compile."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("eval/exec/compile called")

    # the heavy third-party modules (formulaic, scipy.special) are imported lazily, at first
    # use; importing a module compiles its source, so load them before compile is patched
    import formulaic
    import scipy.special

    assert formulaic and scipy.special
    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(builtins, "compile", forbidden)
    data = pd.DataFrame(
        {
            "y": [1.0, 2.0, 3.0, 5.0],
            "x": [1.0, 2.0, 4.0, 8.0],
            "f": pd.Categorical(["a", "b", "a", "c"]),
            "g": ["u", "v", "u", "v"],
        }
    )
    parse_formula("log(y) ~ I(x^2) + scale(x) * f + (x || g)", list(data.columns))
    X, spec = build_design("I(x^2) + log(x + 1) + scale(x) * f + poly(x, 2)", data)
    assert X.shape == (4, 10)
    assert np.isfinite(spec.matrix(data)).all()
    assert evaluate_response("cbind(y, x - y)", data).shape == (4, 2)


def test_column_names_that_look_dangerous_are_just_data() -> None:
    # a column that is literally called "__x" is data, not code
    data = pd.DataFrame({"y": [1.0, 2.0, 3.0], "__x": [1.0, 2.0, 4.0]})
    p = parse_formula("y ~ __x", list(data.columns))
    assert p.variables == ("y", "__x")
    _, spec = build_design("`__x`", data)
    assert spec.names == ["(Intercept)", "`__x`"]
