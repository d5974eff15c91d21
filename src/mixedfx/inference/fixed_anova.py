"""F tests of the fixed-effects terms of one model: lmerTest's `anova(m, type=)` and the
F-test form of `drop1(m)`.

Each term's hypothesis Lβ = 0 comes from `contrasts` (type I, III or marginal) and is tested by
`contest.contest_md` with Satterthwaite or Kenward–Roger denominator df. Tables are
`AnovaTable`s: data frames that print as R's `print.anova`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError
from mixedfx.fitted.varcorr_print import html_pre
from mixedfx.inference.contrast_tests import F_COLUMNS, contest_md, ddf_method
from mixedfx.inference.contrasts import (
    marginal_contrasts,
    marginal_terms,
    type1_contrasts,
    type3_contrasts,
)
from mixedfx.rformat import print_anova

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import LinearMixedFit


class AnovaTable(pd.DataFrame):
    """A data frame with a heading that prints like R's anova tables."""

    _metadata: ClassVar[list[str]] = ["heading"]

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return pd.DataFrame

    def __str__(self) -> str:
        return print_anova(pd.DataFrame(self), getattr(self, "heading", []) or [])

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return html_pre(str(self))


def make_table(rows: list[dict[str, Any]], index: list[str], columns: list[str],
               heading: list[str]) -> AnovaTable:
    """An AnovaTable from row dicts."""
    df = pd.DataFrame(rows, index=pd.Index(index), columns=columns, dtype=float)
    out = AnovaTable(df)
    out.heading = heading
    return out


_TYPES = {"1": "I", "i": "I", "3": "III", "iii": "III", "marginal": "marginal"}


def anova_table(model: LinearMixedFit, type: int | str = 3,
                ddf: str = "Satterthwaite") -> AnovaTable:
    """lmerTest's `anova(m, type=, ddf=)`: one F test per fixed-effects term."""
    kind = _TYPES.get(str(type).lower())
    if kind is None:
        raise ArgumentError(f"type must be 1 or 3 (or 'marginal'), got {type!r}")
    method = ddf_method(ddf)
    frame = model.frame
    contrasts = {"I": type1_contrasts, "III": type3_contrasts,
                 "marginal": marginal_contrasts}[kind](frame)
    rows = [contest_md(model, L, method) for L in contrasts.values()]
    title = "Marginal" if kind == "marginal" else f"Type {kind}"
    method_name = f"{method}'s"
    return make_table(rows, list(contrasts), F_COLUMNS,
                      [f"{title} Analysis of Variance Table with {method_name} method"])


def drop1_ftests(model: LinearMixedFit, ddf: str = "Satterthwaite") -> AnovaTable:
    """lmerTest's `drop1(m)`: F tests of the marginal terms (those not contained in another)."""
    method = ddf_method(ddf)
    frame = model.frame
    scope = marginal_terms(frame)
    contrasts = marginal_contrasts(frame)
    rows = []
    for t in scope:
        L = contrasts[t]
        rows.append(contest_md(model, L, method) if L.size else
                    dict.fromkeys(F_COLUMNS, np.nan))
    heading = [f"Single term deletions using {method}'s method:", "", "Model:",
               model.formula]
    return make_table(rows, scope, F_COLUMNS, heading)
