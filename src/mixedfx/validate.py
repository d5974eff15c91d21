"""Argument and data checks at the public boundary, written once and used by every entry point.

Each check raises a `mixedfx.errors` exception whose message names the argument or column, the
offending value and what is expected, so nothing reaches numpy or LAPACK that would fail there
with a foreign message (or, worse, fit garbage silently).

Resource bound: a model whose dense parts would need more than `MAX_DESIGN_BYTES` (default
4 GiB; change `mixedfx.validate.MAX_DESIGN_BYTES`) is refused before anything is allocated,
with the size it would have needed.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from mixedfx.errors import (
    ArgumentError,
    ArgumentTypeError,
    DataError,
    MixedfxError,
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
    "check_column_names",
    "check_design_size",
    "check_finite_design",
    "check_keywords",
    "check_level",
    "check_number",
    "check_positive_int",
    "check_start",
    "check_used_columns",
    "check_vector",
    "numeric_vector",
    "refuse_unknown_arguments",
    "refuse_unknown_arguments_in",
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


# -- unknown arguments ------------------------------------------------------------------------
F = TypeVar("F", bound=Callable[..., Any])


def _accepted(sig: inspect.Signature) -> list[str]:
    return [n for n, p in sig.parameters.items() if n not in ("self", "cls")
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _call_name(fn: Callable[..., Any]) -> str:
    qual = getattr(fn, "__qualname__", getattr(fn, "__name__", "function"))
    return qual.rsplit(".<locals>.", 1)[-1].removesuffix(".__init__")


def _bind_error(fn: Callable[..., Any], args: tuple, kwargs: Mapping[str, Any]) -> str | None:
    """Why `fn(*args, **kwargs)` cannot bind (unknown keyword, too many or missing arguments),
    as a message naming the argument and listing the accepted ones; None if it binds."""
    sig = inspect.signature(fn)
    try:
        sig.bind(*args, **kwargs)
    except TypeError as exc:
        names = _accepted(sig)
        accepts = f"it accepts: {', '.join(names)}" if names else "it takes no arguments"
        unknown = [k for k in kwargs if k not in sig.parameters
                   or sig.parameters[k].kind == inspect.Parameter.VAR_POSITIONAL]
        call = f"{_call_name(fn)}()"
        if unknown and not any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
            return (f"{call} got an unexpected keyword argument {unknown[0]!r}"
                    f"{did_you_mean(unknown[0], names)}; {accepts}")
        return f"{call}: {exc}; {accepts}"
    return None


_SCALAR_ANNOTATIONS = {"str": "a string", "bool": "True or False",
                       "str | None": "a string or None", "bool | None": "True, False or None"}
_CONTAINERS_OR_FRAMES = (dict, list, set, tuple, frozenset, np.ndarray, pd.Series,
                         pd.DataFrame, pd.Index)
_PLAIN_SCALARS = frozenset((str, bool, int, float))     # exact types: never a container


def _is_foreign_frame(value: Any) -> bool:
    """A polars / Arrow frame or column (anything exposing a data-frame protocol)."""
    return hasattr(value, "__dataframe__") or hasattr(value, "__arrow_c_stream__") \
        or hasattr(value, "__arrow_c_array__")


def _scalar_parameters(fn: Callable[..., Any]) -> list[tuple[int, str, str]]:
    """(position, name, what is valid) of the parameters annotated `str` or `bool` (alone or
    with None): a frame, array or list given there is a mistake that would otherwise surface
    as pandas' "truth value of a DataFrame is ambiguous" or be compared silently."""
    out = []
    params = list(inspect.signature(fn).parameters.values())
    for pos, p in enumerate(params):
        ann = p.annotation if isinstance(p.annotation, str) else getattr(
            p.annotation, "__name__", None)
        if ann in _SCALAR_ANNOTATIONS and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            out.append((pos if p.kind == p.POSITIONAL_OR_KEYWORD else 1 << 30, p.name,
                        _SCALAR_ANNOTATIONS[ann]))
    return out


def refuse_unknown_arguments(fn: F) -> F:
    """Decorator: a call that does not fit `fn`'s signature (an unknown keyword such as
    `reml=`, too many positional arguments) raises ArgumentTypeError naming the argument,
    with a "did you mean" and the accepted names, instead of Python's bare TypeError.
    The signature is only inspected after a TypeError, so calls cost nothing extra."""
    scalar_params: list[tuple[int, str, str]] | None = None

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal scalar_params
        if scalar_params is None:
            scalar_params = _scalar_parameters(fn)
        for pos, name, kind in scalar_params:
            value = args[pos] if pos < len(args) else kwargs.get(name)
            if value is None or type(value) in _PLAIN_SCALARS:
                continue
            if isinstance(value, _CONTAINERS_OR_FRAMES) or _is_foreign_frame(value):
                lib = type(value).__module__.split(".")[0]
                raise ArgumentTypeError(
                    f"{_call_name(fn)}(): {name} must be {kind}, got a "
                    f"{'' if lib == 'builtins' else lib + ' '}{type(value).__name__}")
        try:
            return fn(*args, **kwargs)
        except TypeError as exc:
            if isinstance(exc, MixedfxError):
                raise
            message = _bind_error(fn, args, kwargs)
            if message is None:
                raise
            raise ArgumentTypeError(message) from None

    wrapper.__refuses_unknown__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def refuse_unknown_arguments_in(cls: type) -> type:
    """Apply `refuse_unknown_arguments` to the public methods of `cls`, including those it
    inherits from mixins that do not derive from `RefusesUnknownArguments` (each is wrapped
    once, in the class that defines it)."""
    for klass in cls.__mro__:
        if klass is object:
            continue
        for name, value in list(vars(klass).items()):
            if name.startswith("_") or not inspect.isfunction(value) \
                    or getattr(value, "__refuses_unknown__", False):
                continue
            setattr(klass, name, refuse_unknown_arguments(value))
    return cls


def refuse_unknown_arguments_of(namespace: dict[str, Any], names: Iterable[str]) -> None:
    """Rebind the public functions `names` of a package's `namespace` (its `globals()`) to
    `refuse_unknown_arguments` wrappers: what users reach as `mfx.plots.caterpillar` refuses
    an unknown keyword with an ArgumentTypeError."""
    for name in names:
        fn = namespace.get(name)
        if inspect.isfunction(fn) and not getattr(fn, "__refuses_unknown__", False):
            namespace[name] = refuse_unknown_arguments(fn)


class RefusesUnknownArguments:
    """Mixin: every public method a subclass defines refuses calls that do not fit its
    signature with an ArgumentTypeError (see `refuse_unknown_arguments`)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        refuse_unknown_arguments_in(cls)


def check_keywords(kwargs: Mapping[str, Any], target: Callable[..., Any], where: str,
                   skip: Iterable[str] = ()) -> None:
    """Keywords forwarded by `where` (e.g. "confint(method='profile')") to `target` must be
    among `target`'s parameters (less `skip`, which `where` fills itself)."""
    names = [n for n in _accepted(inspect.signature(target)) if n not in set(skip)]
    unknown = [k for k in kwargs if k not in names]
    if unknown:
        raise ArgumentTypeError(f"{where} got an unexpected keyword argument {unknown[0]!r}"
                                f"{did_you_mean(unknown[0], names)}; it accepts: "
                                f"{', '.join(names) or 'no further keywords'}")


# -- data -----------------------------------------------------------------------------------
def check_column_names(data: pd.DataFrame) -> None:
    """Column names must be unique strings (R's data frames have no other kind)."""
    bad = [c for c in data.columns.tolist() if not isinstance(c, str)]
    if bad:
        raise DataError(f"data column names must be strings, got {bad[0]!r} "
                        f"({type(bad[0]).__name__}); rename the columns, e.g. "
                        "data.columns = [f'x{i}' for i in data.columns]")
    if data.columns.is_unique:
        return
    dup = data.columns[data.columns.duplicated()].unique().tolist()
    if dup:
        raise DataError(f"column name{'s' if len(dup) > 1 else ''} "
                        f"{', '.join(map(repr, dup))} duplicated in data; column names must "
                        "be unique")


_CONTAINERS = (dict, list, set, tuple, frozenset, np.ndarray, pd.Series, pd.DataFrame)


#: the cell types of an object column that none of `check_used_columns`' checks refuses
_PLAIN_OBJECT_TYPES = frozenset({str, float, int, bool, type(None)})


def _plain_objects(values: np.ndarray) -> bool:
    """Whether every cell of an object array is a str, float, int, bool or None (one pass
    over the cells' exact types, at C speed): such a column holds nothing to refuse."""
    return set(map(type, values)) <= _PLAIN_OBJECT_TYPES


def check_used_columns(data: pd.DataFrame | Mapping[str, pd.Series], variables: Iterable[str],
                       grouping_only: Iterable[str] = ()) -> None:
    """Refuse cells no model can use: containers (dict, list, ...) in any used column; and,
    in columns used as numbers (not only as grouping factors), datetimes, timedeltas and
    infinite values. Missing values (NaN, None, NA) are left to `na_action`. `data`: a frame
    or the used columns by name."""
    grouping = set(grouping_only)
    for name in variables:
        col = data[name]
        dtype = col.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "iubf":   # plain NumPy numbers
            if dtype.kind == "f" and name not in grouping:
                _refuse_infinite(col.to_numpy(), name, col.index)
            continue
        if isinstance(dtype, (pd.CategoricalDtype, pd.StringDtype)):
            continue                        # hashable levels, strings: nothing to refuse
        if pd.api.types.is_object_dtype(dtype):
            if _plain_objects(col.to_numpy()):
                continue                    # nothing to refuse
            cells = pd.Series(col.to_numpy(), dtype=object)     # also of a column's array
            nonnull = cells[cells.notna().to_numpy(dtype=bool)]
            kinds = {type(v).__name__ for v in nonnull if isinstance(v, _CONTAINERS)}
            if kinds:
                raise DataError(f"column {name!r} holds {'/'.join(sorted(kinds))} values; "
                                "model columns must hold numbers, strings, booleans or "
                                "categories")
            others = {type(v).__name__ for v in nonnull
                      if not isinstance(v, (str, numbers.Real, np.bool_, bool))}
            if any(isinstance(v, numbers.Complex) and not isinstance(v, numbers.Real)
                   for v in nonnull):
                raise DataError(f"column {name!r} holds complex numbers; models need real "
                                "values: use the real part, the modulus or two columns")
            if others and name not in grouping:
                raise DataError(f"column {name!r} holds {'/'.join(sorted(others))} values, "
                                "which cannot be used as numbers or factor levels; convert it "
                                "to numbers or strings")
            continue                        # (no dtype check below applies to objects)
        if pd.api.types.is_complex_dtype(dtype):
            raise DataError(f"column {name!r} is a {dtype} column of complex numbers; models "
                            "need real values: use the real part (np.real), the modulus "
                            "(np.abs) or two columns")
        if name in grouping:
            continue
        if pd.api.types.is_datetime64_any_dtype(dtype) or \
                pd.api.types.is_timedelta64_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
            raise DataError(f"column {name!r} is a {dtype} column and cannot be used as a "
                            "number; convert it, e.g. (t - t.min()).dt.days, or to a factor")
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            _refuse_infinite(col.to_numpy(dtype=float, na_value=np.nan), name, col.index)


def _refuse_infinite(values: np.ndarray, name: str, index: pd.Index) -> None:
    """±Inf in a column used as numbers is refused, naming the first rows."""
    inf = np.isinf(values)
    if inf.any():
        rows = np.flatnonzero(inf)
        shown = ", ".join(str(index[i]) for i in rows[:5])
        raise DataError(f"column {name!r} has {int(inf.sum())} infinite value(s) "
                        f"(rows {shown}{', ...' if len(rows) > 5 else ''}); remove or "
                        "recode them (NaN / None are treated as missing)")


def numeric_vector(arr: np.ndarray, what: str) -> np.ndarray:
    """`arr` as floats, refusing what would be converted silently: strings ("1.5"), complex
    numbers (the imaginary part dropped), dates; missing values (None / NaN) become NaN."""
    if arr.dtype.kind in "biuf":
        return arr.astype(float)
    bad = None
    if arr.dtype.kind == "O":
        bad = next((v for v in arr.tolist() if v is not None and not (
            isinstance(v, numbers.Real) or (isinstance(v, float) and np.isnan(v)))
            and not (pd.api.types.is_scalar(v) and pd.isna(v))), None)
        if bad is None:
            return np.array([np.nan if v is None or pd.isna(v) else float(v)
                             for v in arr.tolist()], dtype=float)
    shown = f"{bad!r} ({type(bad).__name__})" if bad is not None else f"{arr.dtype} values"
    raise DataError(f"{what} must be real numbers, got {shown}; convert them first, e.g. "
                    "pd.to_numeric(...)")


def check_finite_design(X: np.ndarray, names: Sequence[str], what: str) -> None:
    """A model matrix must be finite (lme4 stops with 'NA/NaN/Inf in foreign function call'):
    e.g. log(x) of a zero gives -Inf, 1/x of a zero Inf."""
    bad = ~np.isfinite(X)
    if not bad.any():
        return
    cols = [names[j] for j in np.flatnonzero(bad.any(axis=0))]
    nrow = int(bad.any(axis=1).sum())
    raise DataError(f"the {what} has non-finite values (NaN/Inf) in column"
                    f"{'s' if len(cols) > 1 else ''} {', '.join(map(repr, cols))} for {nrow} "
                    "row(s), e.g. log() of a zero or division by zero; lme4 stops with "
                    "'NA/NaN/Inf in foreign function call'. Remove those rows or change the "
                    "transformation")


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
