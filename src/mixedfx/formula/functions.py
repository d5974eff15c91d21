"""The whitelist of functions a formula may call, and where each may appear.

Kinds:

``math``      elementwise numeric functions (``log``, ``sqrt``, ...), usable anywhere
``identity``  ``I()``: its argument is ordinary arithmetic
``stateful``  ``scale()``, ``center()``: remember the training mean/sd for new data
``factor``    ``factor()``, ``as.factor()``, ``relevel(f, "b")`` / ``relevel(f, ref = "b")``:
              a variable of the formula, not arithmetic
``poly``      ``poly(x, degree)``: orthogonal polynomials, a variable of the formula
``offset``    ``offset()``: only as a separate term of the fixed part
``cbind``     ``cbind(a, b)``: only as the whole response
``structure`` glmmTMB covariance structures wrapping a random-effects term
              (``diag(x | g)``, ``ar1(0 + t | g)``, ``cs``, ``homcs``, ``toep``, ``us``)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FUNCTIONS", "FunctionSpec", "allowed_function_list"]


@dataclass(frozen=True)
class FunctionSpec:
    """Arity and kind of a whitelisted function."""

    name: str
    min_args: int
    max_args: int
    kind: str


_SPECS = [
    FunctionSpec("I", 1, 1, "identity"),
    FunctionSpec("log", 1, 2, "math"),
    FunctionSpec("log2", 1, 1, "math"),
    FunctionSpec("log10", 1, 1, "math"),
    FunctionSpec("log1p", 1, 1, "math"),
    FunctionSpec("exp", 1, 1, "math"),
    FunctionSpec("expm1", 1, 1, "math"),
    FunctionSpec("sqrt", 1, 1, "math"),
    FunctionSpec("abs", 1, 1, "math"),
    FunctionSpec("scale", 1, 1, "stateful"),
    FunctionSpec("center", 1, 1, "stateful"),
    FunctionSpec("factor", 1, 1, "factor"),
    FunctionSpec("as.factor", 1, 1, "factor"),
    FunctionSpec("relevel", 2, 2, "factor"),
    FunctionSpec("poly", 1, 2, "poly"),
    FunctionSpec("offset", 1, 1, "offset"),
    FunctionSpec("cbind", 2, 2, "cbind"),
    FunctionSpec("us", 1, 1, "structure"),
    FunctionSpec("diag", 1, 1, "structure"),
    FunctionSpec("cs", 1, 1, "structure"),
    FunctionSpec("homcs", 1, 1, "structure"),
    FunctionSpec("ar1", 1, 1, "structure"),
    FunctionSpec("toep", 1, 1, "structure"),
]

#: name -> spec for every function a formula may call.
FUNCTIONS: dict[str, FunctionSpec] = {spec.name: spec for spec in _SPECS}


def allowed_function_list() -> str:
    """Comma-separated names of the whitelisted functions, for error messages."""
    return ", ".join(sorted(FUNCTIONS, key=str.lower))
