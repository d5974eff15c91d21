"""mmrm's `summary()` layout for a fitted MMRM: formula, data, covariance, method, model
selection criteria, the coefficient table (R's printCoefmat) and the covariance estimate."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mixedfx.mmrm.structures import DESCRIPTIONS
from mixedfx.rformat import format_real, print_coefmat, print_matrix, print_named_vector

if TYPE_CHECKING:
    from mixedfx.mmrm.model import MmrmModel


def _matrix(frame) -> str:
    vals = np.round(frame.to_numpy(), 4)
    cells = format_real(vals.ravel(), 7)
    w = len(frame.columns)
    rows = [list(cells[i * w:(i + 1) * w]) for i in range(len(frame))]
    return print_matrix(rows, list(map(str, frame.columns)), list(map(str, frame.index)),
                        right=True)


class MmrmSummary:
    """Printable summary; `.coefficients` is the coefficient table."""

    def __init__(self, model: MmrmModel) -> None:
        self.model = model
        self.coefficients = model.coef_table()

    def __str__(self) -> str:
        m = self.model
        d = m._design
        data = m.data_name or "data"
        n_visits = max(np.bincount(d.subject_codes))
        lines = ["mmrm fit", "",
                 f"Formula:     {m.formula}",
                 f"Data:        {data} (used {m.nobs} observations from {m.n_subjects} "
                 f"subjects with maximum {n_visits} timepoints)",
                 f"Covariance:  {DESCRIPTIONS[m.structure]} ({m.n_theta} variance parameters"
                 + (f" of {d.n_groups} groups" if d.term.group else "") + ")",
                 f"Method:      {m.method}",
                 f"Vcov Method: {m.vcov_method}",
                 f"Inference:   {'REML' if m.REML else 'ML'}", "",
                 "Model selection criteria:"]
        crit = [m.aic, m.bic, m.loglik, m.deviance]
        lines.append(print_named_vector(["AIC", "BIC", "logLik", "deviance"],
                                        format_real(np.round(crit, 1), 7)))
        lines += ["", "Coefficients: ", print_coefmat(self.coefficients, digits=4), "",
                  "Covariance estimate:"]
        cov = m.cov_matrix()
        if isinstance(cov, dict):
            for lev, frame in cov.items():
                lines += [f"Group: {lev}", _matrix(frame), ""]
        else:
            lines += [_matrix(cov), ""]
        return "\n".join(lines)

    __repr__ = __str__
