"""Checks of argument values at the public boundary, written once and used by every entry
point: booleans, numbers within bounds, confidence levels, positive integers, seeds, nAGQ,
choices among strings, finite vectors and θ start values within their bounds; and the resource
bound on dense designs.

Each check raises a `mixedfx.errors` exception whose message names the argument, the offending
value and what is expected, so nothing reaches numpy or LAPACK that would fail there with a
foreign message (or, worse, fit garbage silently). Calls that do not fit a signature are
refused by `mixedfx.unknown_arguments`; the user's data is checked by `mixedfx.data_checks`.

Resource bound: a model whose dense parts would need more than `MAX_DESIGN_BYTES` (default
4 GiB; change `mixedfx.validate.MAX_DESIGN_BYTES`) is refused before anything is allocated,
with the size it would have needed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from mixedfx.errors import (
    ArgumentError,
    ArgumentTypeError,
    ResourceError,
    did_you_mean,
)

MAX_DESIGN_BYTES = 4 * 2**30
MAX_NAGQ = 100          # lme4's GHrule: stopifnot(ord < 101L)

__all__ = [
    "MAX_DESIGN_BYTES",
    "MAX_NAGQ",
    "check_bool",
    "check_choice",
    "check_design_size",
    "check_level",
    "check_number",
    "check_positive_int",
    "check_start",
    "check_vector",
    "short_repr",
]


def check_bool(value: Any, name: str) -> bool:
    """`value` as a bool; only True/False (or numpy booleans) are accepted, so that R habits
    such as REML="FALSE" (a non-empty, hence true, string) cannot flip a setting silently."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ArgumentTypeError(f"{name} must be True or False, got {short_repr(value)} "
                            f"({type(value).__name__})")


def check_number(value: Any, name: str, low: float | None = None, high: float | None = None,
                 low_open: bool = True, high_open: bool = True) -> float:
    """A finite real number within the given (open by default) bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a number, got {short_repr(value)} "
                                f"({type(value).__name__})")
    v = float(value)
    bad = not math.isfinite(v)
    if low is not None:
        bad |= v <= low if low_open else v < low
    if high is not None:
        bad |= v >= high if high_open else v > high
    if bad:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
        rng = " and ".join(s for s in (lo, hi) if s) or "finite"
        raise ArgumentError(f"{name} must be {rng}, got {value!r}")
    return v


def check_level(level: Any) -> float:
    """A confidence level strictly between 0 and 1 (0.95, not 95)."""
    if isinstance(level, numbers.Real) and not isinstance(level, (bool, np.bool_)) \
            and 1 <= float(level) < 100 and float(level) != 1:
        raise ArgumentError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}; "
                            f"did you mean {float(level) / 100:g}?")
    return check_number(level, "level", 0.0, 1.0)


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """An integer ≥ `minimum` (booleans and floats such as 10.0 are refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be an integer >= {minimum}, got {value!r} "
                                f"({type(value).__name__})")
    if int(value) < minimum:
        raise ArgumentError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_seed(seed: Any, name: str = "seed") -> np.random.Generator:
    """A numpy Generator from `seed`: None, a non-negative integer, a SeedSequence or a
    Generator (used as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, np.random.SeedSequence) or (
            isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_))
            and int(seed) >= 0):
        return np.random.default_rng(seed)
    raise ArgumentTypeError(f"{name} must be None, an integer >= 0 or a numpy Generator, got "
                            f"{seed!r} ({type(seed).__name__})")


def check_nagq(value: Any) -> int:
    """nAGQ as an integer in 0..`MAX_NAGQ` (lme4's Gauss–Hermite rules stop at 100; numpy's
    rule overflows to non-finite weights beyond a few hundred nodes, and the quadrature
    arrays grow with nAGQ²), checked before anything is allocated."""
    if type(value) is int and 0 <= value <= MAX_NAGQ:       # (the common case, at once)
        return value
    n = check_positive_int(value, "nAGQ", minimum=0)
    if n > MAX_NAGQ:
        raise ArgumentError(f"nAGQ must be at most {MAX_NAGQ} (lme4's Gauss-Hermite rules stop "
                            f"at 100 nodes; more overflow the quadrature weights), got {n}; "
                            "nAGQ=25 is ample for a scalar random effect")
    return n


def short_repr(value: Any, width: int = 60) -> str:
    """`repr(value)` cut to `width` characters (a frame or array passed by mistake would
    otherwise fill the message)."""
    text = repr(value) if isinstance(value, (str, int, float, bool, type(None))) \
        else f"{type(value).__name__} {value!r}"
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """One of the strings in `choices`."""
    if not isinstance(value, str) or value not in choices:
        raise ArgumentError(f"{name} must be one of {', '.join(map(repr, choices))}, "
                            f"got {short_repr(value)}{did_you_mean(value, choices)}")
    return value


def check_choices(value: Any, name: str, choices: Sequence[str], what: str) -> list[str]:
    """One string of `choices` or a non-empty list of them, as a list (`what` names the
    items in the message, e.g. "effect type(s)")."""
    if not isinstance(value, (str, list, tuple)):
        raise ArgumentTypeError(f"{name} must be one of {', '.join(map(repr, choices))} or a "
                                f"list of them, got {short_repr(value)}")
    out = [value] if isinstance(value, str) else list(value)
    unknown = [v for v in out if v not in choices]
    if unknown or not out:
        raise ArgumentError(f"unknown {what} {unknown}: choose from {list(choices)}")
    return out


def check_vector(value: Any, name: str, length: int | None = None) -> np.ndarray:
    """A finite float vector (of `length` values when given)."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name} must be a vector of numbers, got {value!r}") from None
    if arr.ndim != 1 or (length is not None and arr.shape != (length,)):
        want = f"{length} values" if length is not None else "a 1-d vector"
        raise ArgumentError(f"{name} must have {want}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ArgumentError(f"{name} must be finite, got {arr.tolist()}")
    return arr


def check_start(value: Any, name: str, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """θ start values: `len(lower)` finite numbers with lower ≤ θ ≤ upper, elementwise.

    lme4 refuses a start outside the optimizer's box rather than moving it (lmer: nloptr's
    "at least one element in x0 < lb"; glmer: bobyqa's "Starting values violate bounds"), e.g.
    a negative diagonal element of a relative covariance factor Λ (lower bound 0)."""
    arr = check_vector(value, name, len(lower))
    bad = [f"{name}[{i}] = {arr[i]:g} is below its lower bound {lower[i]:g}" if arr[i] < lower[i]
           else f"{name}[{i}] = {arr[i]:g} is above its upper bound {upper[i]:g}"
           for i in np.flatnonzero((arr < lower) | (arr > upper))]
    if bad:
        raise ArgumentError(
            f"{name} must lie within the bounds of theta, as lme4 requires: {'; '.join(bad)} "
            "(the diagonal elements of each relative covariance factor, ratios of standard "
            f"deviations, are >= 0); lower bounds {np.asarray(lower).tolist()}, upper bounds "
            f"{np.asarray(upper).tolist()}")
    return arr


def format_bytes(nbytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} TiB"


def check_design_size(rows: int, cols: int, what: str,
                      hint: str = "simplify the model (fewer interactions or factor levels)"
                      ) -> None:
    """Refuse a dense float64 `rows` × `cols` array above `MAX_DESIGN_BYTES`."""
    nbytes = 8.0 * rows * cols
    if nbytes > MAX_DESIGN_BYTES:
        raise ResourceError(
            f"the {what} would be a dense {rows:,} x {cols:,} array of "
            f"{format_bytes(nbytes)}, above the limit of {format_bytes(MAX_DESIGN_BYTES)} "
            f"(mixedfx.validate.MAX_DESIGN_BYTES); {hint} or raise the limit")
