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

from mixedfx.errors import FormulaError, NewLevelError

__all__ = ["FormulaError", "NewLevelError"]
