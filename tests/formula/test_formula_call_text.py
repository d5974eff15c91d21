"""R's line breaking of printed calls (print(call) / deparse(width.cutoff = ))."""

from __future__ import annotations

from mixedfx.formula.call_text import call_lines, call_text_lines
from mixedfx.formula.syntax import parse_text


def test_call_lines_break_as_r() -> None:
    """R 4.2.2: deparse(quote(lm(formula = y ~ a + ... + p, data = dat)), width.cutoff = 30)."""
    tree = parse_text("y ~ a + b + c + d + e + f + g + h + i + j + k + l + m + n + o + p",
                      list("yabcdefghijklmnop"))
    lines = call_lines("lm", [("formula", tree), ("data", "dat")], cutoff=30)
    assert lines == ["lm(formula = y ~ a + b + c + d + ", "    e + f + g + h + i + j + k + ",
                     "    l + m + n + o + p, data = dat)"]
    assert call_text_lines("f(x") == ["f(x"]


def test_double_verts_expand_as_lme4() -> None:
    """lme4:::expandDoubleVerts(quote(y ~ x + (0 + x || g))), (x + z || g) in R 4.2.2."""
    cols = ["y", "x", "z", "g"]
    assert call_text_lines("lmer(formula = y ~ x + (0 + x || g), data = d)", cols) == \
        ["lmer(formula = y ~ x + ((0 + x | g)), data = d)"]
    assert call_text_lines("glmer(formula = y ~ x + (x + z || g), data = d)", cols) == \
        ["glmer(formula = y ~ x + ((1 | g) + (0 + x | g) + (0 + z | g)), ", "    data = d)"]
    assert call_text_lines("lm(formula = y ~ x, data = d)", cols) == \
        ["lm(formula = y ~ x, data = d)"]
