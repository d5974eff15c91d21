"""Exceptions raised by :mod:`mixedfx.formula`.

:class:`FormulaError` is raised for every malformed or unsafe formula.  When the
position of the problem is known, its message ends with the formula and a caret
line pointing at the offending text::

    unknown variable 'Dayz' in formula; available columns: Reaction, Days, Subject
    (did you mean 'Days'?)
      Reaction ~ Dayz + (Days | Subject)
                 ^^^^
"""

from __future__ import annotations

__all__ = ["FormulaError", "NewLevelError"]


class FormulaError(ValueError):
    """A formula that is malformed, refers to unknown columns, or is unsafe.

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

    def _render(self) -> str:
        if self.text is None or self.start is None:
            return self.reason
        start = max(0, min(self.start, len(self.text)))
        end = self.end if self.end is not None else start + 1
        end = max(start + 1, min(end, max(len(self.text), start + 1)))
        shown = "".join(" " if ch in "\t\r\n" else ch for ch in self.text)
        caret = " " * start + "^" * (end - start)
        return f"{self.reason}\n  {shown}\n  {caret}"


class NewLevelError(ValueError):
    """New data hold a factor level that the training data did not have."""
