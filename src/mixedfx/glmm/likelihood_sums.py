"""The μ-free sums of a GLMM's log-likelihood, set up once per model (`glmm.pirls.Pirls`).

For the families whose log-likelihood splits (`Family.kernel`), PIRLS needs two sums over
the rows, in the model's canonical row order:

    Σᵢ saturatedᵢ                     (`Family.saturated`: dev.resids = 2 (saturated − kernel))
    aic_constant = −2 log p(y | μ) + 2 Σᵢ kernelᵢ      (`Family.aic_constant`)

For the binomial and Poisson families the compiled kernel forms both in one pass
(`mixedfx._native.pirls.likelihood_sums`, see pirls_setup.h) with the bits of the NumPy /
SciPy path: the same elementwise operations, NumPy's pairwise summation, and log Γ(j + 1)
read from a table of SciPy's own `gammaln` values at whole numbers (`_lgamma1`). Other
families, non-integer counts and sizes, or no built kernel: the family's NumPy functions.
"""

from __future__ import annotations

import threading
from types import ModuleType

import numpy as np

from mixedfx.families import Family
from mixedfx.lazy import lazy_module

special = lazy_module("scipy.special")  # scipy.special costs ~50 ms at import; only needed here

#: the families the kernel serves (pirls.c's family codes)
_KERNEL_FAMILIES = {"binomial": 0, "poisson": 1}
#: the table is not grown past this many entries (8 MB); larger counts take the NumPy path
MAX_TABLE = 1 << 20

_table = np.zeros(0)
_table_lock = threading.Lock()


def _lgamma1(need: int) -> np.ndarray:
    """SciPy's gammaln(j + 1) for j = 0, 1, ..., at least `need` entries (grown in powers of
    two, replaced, never written in place: a reader holding the old table keeps valid
    values)."""
    global _table
    with _table_lock:
        if len(_table) < need:
            size = max(256, 1 << (need - 1).bit_length())
            table = special.gammaln(np.arange(size, dtype=float) + 1.0)
            table.flags.writeable = False
            _table = table
        return _table


def likelihood_sums(family: Family, y: np.ndarray, n: np.ndarray, wt: np.ndarray,
                    native: ModuleType | None) -> tuple[float, float]:
    """(Σ saturated, aic_constant) over rows already in the canonical order; `native`: the
    compiled PIRLS module, or None for the NumPy path."""
    code = _KERNEL_FAMILIES.get(family.name)
    if native is not None and code is not None:
        args = (np.ascontiguousarray(y, dtype=float), np.ascontiguousarray(n, dtype=float),
                np.ascontiguousarray(wt, dtype=float))
        table = _table
        while True:
            status, sat_sum, aic, need = native.likelihood_sums(code, *args, table)
            if status != 1 or need > MAX_TABLE:
                break
            table = _lgamma1(need)
        if status == 0:
            return sat_sum, aic
    return float(np.add.reduce(family.saturated(y, wt))), family.aic_constant(y, n, wt)
