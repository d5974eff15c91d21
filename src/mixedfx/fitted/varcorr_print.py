"""lme4's `print(VarCorr(m), comp = ...)`: the variance-components table (`formatVC`).

Columns Groups, Name, then the requested components ("Variance", "Std.Dev.", each formatted
as one vector with `digits` significant digits), then the correlations rounded to
max(2, digits − 2) decimals, one row per random-effect column and a Residual row when the
model has a scale; printed left-aligned as R prints a character matrix.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np

from mixedfx.fitted.varcorr import TermCovariance
from mixedfx.rformat import format_real, print_matrix, r_round
from mixedfx.validate import check_choices, check_positive_int

COMPONENTS = ("Variance", "Std.Dev.")


class VarCorrTable:
    """A printable variance-components table; `str()` is lme4's layout."""

    def __init__(self, covs: list[TermCovariance], sigma: float | None,
                 comp: Sequence[str] = ("Std.Dev.",), digits: int = 5) -> None:
        comp = check_choices(comp, "comp", COMPONENTS, "comp component(s)")
        digits = check_positive_int(digits, "digits")
        self.covs, self.sigma, self.comp, self.digits = covs, sigma, comp, digits

    def __str__(self) -> str:
        groups, names, sds = [], [], []
        for c in self.covs:
            for i, nm in enumerate(c.names):
                groups.append(c.group if i == 0 else "")
                names.append(nm)
            sds.extend(c.sd.tolist())
        if self.sigma is not None:
            groups.append("Residual")
            names.append("")
            sds.append(self.sigma)
        sd = np.asarray(sds)
        columns = {"Variance": format_real(sd**2, self.digits),
                   "Std.Dev.": format_real(sd, self.digits)}
        maxk = max(len(c.names) for c in self.covs)
        ncorr = max(maxk - 1, 0)
        cdig = max(2, self.digits - 2)
        corr_rows: list[list[str]] = []
        for c in self.covs:
            k = len(c.names)
            cc = np.array(format_real(r_round(c.corr, cdig).ravel(), 7, nsmall=cdig),
                          dtype=object).reshape(k, k)
            corr_rows += [[cc[i, j] if j < i else "" for j in range(ncorr)] for i in range(k)]
        corr_rows += [[""] * ncorr] * (len(groups) - len(corr_rows))
        header = ["Groups", "Name", *self.comp] + (["Corr"] + [""] * (ncorr - 1)
                                                   if ncorr else [])
        cells = [[g, n, *[columns[c][i] for c in self.comp], *corr_rows[i]]
                 for i, (g, n) in enumerate(zip(groups, names, strict=True))]
        return print_matrix(cells, header, [""] * len(cells))

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return html_pre(str(self))


def html_pre(text: str) -> str:
    """Text in a <pre> block for notebooks."""
    return f"<pre>{html.escape(text)}</pre>"
