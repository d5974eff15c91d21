"""lme4 formulas: parsing, safety checks and R-style model matrices.

Public entry points:

* :func:`parse_formula` -- split an lme4 formula into response, fixed part,
  random-effects bars (``||`` and ``/`` expanded as lme4 does), offsets and variables;
* :func:`build_design` -- R's ``model.matrix`` for a right-hand side, with R's
  column names; :class:`DesignSpec` encodes new data the same way;
* :func:`evaluate_response` -- the response (or an offset expression) as numbers.

Every malformed or unsafe formula raises :class:`FormulaError`; formula text is
never passed to ``eval``.
"""

from .bars import RandomBar
from .design import DesignSpec, build_design
from .errors import FormulaError, NewLevelError
from .parser import ParsedFormula, parse_formula
from .response import evaluate_response
from .rnames import format_level, quote_name, r_sort_levels

__all__ = [
    "DesignSpec",
    "FormulaError",
    "NewLevelError",
    "ParsedFormula",
    "RandomBar",
    "build_design",
    "evaluate_response",
    "format_level",
    "parse_formula",
    "quote_name",
    "r_sort_levels",
]
