"""The exceptions mixedfx raises, one hierarchy so callers can catch them all.

    MixedfxError (ValueError)          anything mixedfx refuses or cannot do
    ├── ArgumentError                  an argument of the wrong value (REML="no", level=99)
    │   ├── ArgumentTypeError (+TypeError)   ... or of the wrong type
    │   └── UnsupportedError (+NotImplementedError)  an operation this kind of model lacks
    ├── FormulaError                   malformed, unsafe or too large formula
    ├── DataError                      data that cannot be modelled (inf, dict cells, empty)
    │   ├── NewLevelError              new data with a factor level the fit never saw
    │   └── ResourceError              a design larger than the allowed memory
    └── FitError (+RuntimeError)       the engine could not produce a finite fit
        ├── ConvergenceError           the optimizer failed (non-finite objective, LAPACK)
        └── PirlsError                 PIRLS failed (lme4's pwrssUpdate errors)

Every class subclasses ValueError, so `except ValueError` keeps working; the fit errors also
subclass RuntimeError (what PirlsError was before). This module imports nothing of mixedfx.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["ArgumentError", "ArgumentTypeError", "ConvergenceError", "DataError", "FitError",
           "FormulaError", "MixedfxError", "NewLevelError", "PirlsError", "ResourceError",
           "UnsupportedError", "did_you_mean"]


def did_you_mean(name: object, choices: Iterable[str]) -> str:
    """`" (did you mean 'x'?)"` for the choice closest to `name` (case-insensitive,
    difflib's ratio >= 0.6), or `""` when none is close or `name` is not a string."""
    if not isinstance(name, str):
        return ""
    lower: dict[str, str] = {}
    for c in choices:
        if isinstance(c, str):
            lower.setdefault(c.lower(), c)
    close = difflib.get_close_matches(name.lower(), list(lower), n=1)
    return f" (did you mean '{lower[close[0]]}'?)" if close else ""


class MixedfxError(ValueError):
    """Base class of every error mixedfx raises on purpose."""


class ArgumentError(MixedfxError):
    """An argument with an invalid value."""


class ArgumentTypeError(ArgumentError, TypeError):
    """An argument of the wrong type (also a TypeError)."""


class UnsupportedError(ArgumentError, NotImplementedError):
    """An operation this kind of model does not offer (e.g. Kenward-Roger for a Dask fit);
    also a NotImplementedError."""


class DataError(MixedfxError):
    """Data that cannot be used as given (non-finite values, unsupported cells, no rows)."""


class ResourceError(DataError):
    """The model would allocate more memory than allowed (see `mixedfx.validate`)."""


class FitError(MixedfxError, RuntimeError):
    """The engine could not produce a fit with finite estimates."""


class ConvergenceError(FitError):
    """The optimization failed (non-finite objective, a numerical breakdown)."""


class PirlsError(FitError):
    """Penalized iteratively reweighted least squares failed (lme4's pwrssUpdate errors)."""


class FormulaError(MixedfxError):
    """A formula that is malformed, refers to unknown columns, is unsafe or too large.

    Attributes:
        reason: the message without the caret display.
        text: the formula text the position refers to (or ``None``).
        start, end: the half-open character span of the problem in ``text``
            (``None`` when unknown).
    """

    def __init__(
        self,
        reason: str,
        text: str | None = None,
        start: int | None = None,
        end: int | None = None,
    ) -> None:
        self.reason = reason
        self.text = text
        self.start = start
        self.end = end
        super().__init__(self._render())

    def __reduce__(self):  # picklable despite the extra constructor arguments
        return (type(self), (self.reason, self.text, self.start, self.end))

    def _render(self) -> str:
        if self.text is None or self.start is None:
            return self.reason
        start = max(0, min(self.start, len(self.text)))
        end = self.end if self.end is not None else start + 1
        end = max(start + 1, min(end, max(len(self.text), start + 1)))
        shown = "".join(" " if ch in "\t\r\n" else ch for ch in self.text)
        if len(shown) > 200:       # a very long formula: show the part around the problem
            lo = max(0, start - 80)
            shown, start, end = shown[lo:lo + 200], start - lo, min(end - lo, 200)
            end = max(end, start + 1)
        caret = " " * start + "^" * (end - start)
        return f"{self.reason}\n  {shown}\n  {caret}"


class NewLevelError(DataError):
    """New data hold a factor level that the training data did not have."""
