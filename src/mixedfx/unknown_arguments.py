"""Calls that do not fit a signature are refused, never ignored: an unknown keyword (R's
`REML=` typed as `reml=`), too many positional arguments, or a frame, array or list given
where a string or a bool is expected raise `ArgumentTypeError` naming the argument, with a
"did you mean" and the accepted names, instead of Python's bare TypeError (or a silent
comparison).

`refuse_unknown_arguments` wraps one function; `refuse_unknown_arguments_in` the public
methods of a class (the `RefusesUnknownArguments` mixin does it for every subclass);
`refuse_unknown_arguments_of` the public functions of a package's namespace;
`check_keywords` checks keywords a method forwards with `**kwargs` against the function
they reach.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentTypeError, MixedfxError, did_you_mean

__all__ = [
    "RefusesUnknownArguments",
    "check_keywords",
    "refuse_unknown_arguments",
    "refuse_unknown_arguments_in",
    "refuse_unknown_arguments_of",
]

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
