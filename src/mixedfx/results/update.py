"""lme4's `update(m, formula, ...)` with R's dot notation.

In the new formula `.` on the left stands for the old response (`log(.) ~ .`) and on the
right for the old right-hand side; a missing left side keeps the response. The right side is
then simplified as R's `update.formula` does for sums: terms after `-` are removed from the
old terms (matched as written, spaces ignored), terms after `+` appended when not present;
`- 1` / `+ 0` drop the intercept.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from mixedfx.errors import ArgumentError, ArgumentTypeError

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import MixedFit


def _split_top(text: str) -> list[tuple[str, str]]:
    """Top-level signed summands of a right-hand side: [("+", "Days"), ("-", "x"), ...]."""
    out, depth, cur, sign = [], 0, "", "+"
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if depth == 0 and ch in "+-":
            if cur.strip():
                out.append((sign, cur.strip()))
            elif ch == "-":
                pass
            sign, cur = ch, ""
            continue
        cur += ch
    if cur.strip():
        out.append((sign, cur.strip()))
    return out


def _norm(term: str) -> str:
    return re.sub(r"\s+", "", term)


def _substitute_dot(text: str, value: str) -> str:
    """Replace the formula placeholder `.` (not part of a name or number) with `value`."""
    return re.sub(r"(?<![\w.])\.(?![\w.])", value, text)


def update_formula(old: str, new: str) -> str:
    """The formula `new` with lme4's dots filled in from `old` (see the module docstring)."""
    if not isinstance(new, str) or "~" not in new:
        raise ArgumentTypeError("formula must be a string with '~', such as '. ~ . - x', "
                                f"got {new!r}")
    old_lhs, old_rhs = (s.strip() for s in old.split("~", 1))
    lhs, rhs = (s.strip() for s in new.split("~", 1))
    lhs = old_lhs if lhs in ("", ".") else _substitute_dot(lhs, old_lhs)
    if lhs in ("NULL", "0", "1") or not lhs:
        raise ArgumentError(f"update would drop the response {old_lhs!r}: the new formula "
                            f"{new!r} has no left-hand side to fit")
    parts = _split_top(_substitute_dot(rhs, f"({old_rhs})")) if "." in rhs else \
        _split_top(rhs)
    terms: list[str] = []
    intercept_dropped = False
    for sign, term in _expand(parts, old_rhs):
        key = _norm(term)
        if sign == "-":
            if key in ("1",):
                intercept_dropped = True
            terms = [t for t in terms if _norm(t) != key]
            if key not in ("1",) and all(_norm(t) != key for t in _old_terms(old_rhs)):
                terms.append(f"- {term}")
        elif key in ("0",):
            intercept_dropped = True
        elif key not in {_norm(t) for t in terms}:
            terms.append(term)
    body = " + ".join(t for t in terms if not t.startswith("- ")) or "1"
    body += "".join(f" {t}" for t in terms if t.startswith("- "))
    if intercept_dropped:
        body += " - 1"
    return f"{lhs} ~ {body}"


def _old_terms(old_rhs: str) -> list[str]:
    return [t for s, t in _split_top(old_rhs) if s == "+"]


def _expand(parts: list[tuple[str, str]], old_rhs: str) -> list[tuple[str, str]]:
    """Replace the parenthesized old right-hand side by its own summands."""
    out = []
    target = _norm(f"({old_rhs})")
    for sign, term in parts:
        if _norm(term) == target and sign == "+":
            out += _split_top(old_rhs)
        else:
            out.append((sign, term))
    return out


def update_model(model: MixedFit, formula: str | None = None, data: Any = None,
                 **kwargs: Any) -> Any:
    """Refit `model` with an updated formula and/or other arguments (lmer's REML, control;
    glmer's family, nAGQ) through the function that fitted it (`model.fitted_by`: lmer or
    glmer). Data: `data`, else the data the model was fitted to."""
    fit = model.fitted_by
    if fit is None:
        raise ArgumentError(f"update() needs the function that fitted the model; this "
                            f"{type(model).__name__} was built without one (a bootstrap "
                            "replicate or a model constructed directly)")
    new_formula = model.formula if formula is None else update_formula(model.formula, formula)
    if data is None:
        data = model._data
    if data is None:
        data = model.frame.frame
    glmm = hasattr(model, "family")
    if not glmm:
        for key, value in model.structure_arguments().items():
            kwargs.setdefault(key, value)
    allowed = {"REML", "control", "weights", "offset", "na_action", "start",
               "correlation"} if not glmm \
        else {"family", "nAGQ", "control", "weights", "offset", "na_action", "start", "link"}
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise ArgumentTypeError(f"update got unexpected argument(s) {unknown}; allowed: "
                                f"{sorted(allowed)}")
    fr = model.frame
    if "weights" not in kwargs and fr.weights is not None:
        if len(data) != fr.n:
            raise ArgumentError("the model has prior weights for rows that differ from the data: "
                                "pass weights= to update")
        kwargs["weights"] = fr.weights
    if "offset" not in kwargs and fr.offset is not None and not fr.formula.offsets:
        if len(data) != fr.n:
            raise ArgumentError("the model has an offset for rows that differ from the data: "
                                "pass offset= to update")
        kwargs["offset"] = fr.offset if fr.offset_column is None else fr.offset_column
    kwargs.setdefault("control", model._control)
    if getattr(getattr(fr, "rows", None), "exclude", False):
        kwargs.setdefault("na_action", "exclude")       # the refit pads its results too
    if glmm:
        kwargs.setdefault("family", model.family)
        kwargs.setdefault("nAGQ", model.nAGQ)
    else:
        kwargs.setdefault("REML", model.REML)
    out = fit(new_formula, data, **kwargs)
    if getattr(out, "data_name", None) is None:
        out.data_name = model.data_name
    out._data = data
    return out
