"""lme4's `.` in a formula: every column of the data but the response.

lme4 (through R's `terms(formula, data = data)`) replaces `.` on the right of `~` by all
columns of the data except the response, in the data's column order; grouping variables
and columns used elsewhere in the formula are not excluded (`y ~ . + (1 | g)` also has `g`
as a fixed effect, as in R; write `y ~ . - g + (1 | g)` to leave it out). Here `.` becomes
`(a + b + ...)` in the formula text before parsing, so `.^2`, `. - x` and `. + a:b` follow
R's term algebra.

lme4 excludes a column only when it is the whole response: with a transformed response
(`log(y) ~ .`) or `cbind(s, f) ~ .` lme4 would use the response expression itself as a
predictor; those formulas are refused here, with a message saying to list the predictors.
R's `lm` and `glm` (stats' `terms.formula`) instead leave out every column the response
names (`log(y) ~ .` without `y`, `cbind(s, f) ~ .` without `s` and `f`): `stats=True`.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import FormulaError
from .rnames import quote_name
from .tokens import Token, tokenize

__all__ = ["expand_dot"]


def _is_dot(tok: Token) -> bool:
    return tok.kind == "NAME" and tok.value == "." and not tok.backticked and not tok.is_column


def expand_dot(text: str, columns: Sequence[str], stats: bool = False) -> str | None:
    """`text` with each `.` right of `~` replaced by `(c1 + c2 + ...)`, the data's columns
    but the response (with `stats=True`, but every column named in the response, as R's
    `lm` / `glm`); None when the formula has no such `.`.

    Raises:
        FormulaError: `.` with a response that is not a plain column (lme4's rule), or no
        column left.
    """
    tokens = tokenize(text, columns)
    tilde = next((k for k, t in enumerate(tokens) if t.kind == "OP" and t.value == "~"), None)
    if tilde is None:
        return None
    dots = [t for t in tokens[tilde + 1:] if _is_dot(t)]
    if not dots:
        return None
    lhs = tokens[:tilde]
    excluded = {t.value for t in lhs if t.kind == "NAME" and t.is_column}
    plain = len(lhs) == 1 and lhs[0].kind == "NAME" and lhs[0].is_column
    if lhs and not plain and not stats:
        raise FormulaError(
            f"'.' with the response {text[lhs[0].start:lhs[-1].end]!r}: lme4's expansion would "
            "use the response itself as a predictor; list the predictors instead",
            text, dots[0].start, dots[0].end)
    rest = [c for c in columns if isinstance(c, str) and c not in excluded]
    if not rest:
        raise FormulaError("'.' stands for no column: the data has only the response",
                           text, dots[0].start, dots[0].end)
    bad = [c for c in rest if "`" in c]
    if bad:
        raise FormulaError(f"'.' cannot include the column {bad[0]!r} (a backtick in its "
                           "name); list the predictors", text, dots[0].start, dots[0].end)
    expansion = "(" + " + ".join(quote_name(c) for c in rest) + ")"
    out = text
    for tok in reversed(dots):
        out = out[:tok.start] + expansion + out[tok.end:]
    return out
