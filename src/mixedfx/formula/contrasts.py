"""Contrast matrices with R's defaults.

* unordered factors: ``contr.treatment`` (first level is the reference; columns are
  named by the remaining levels, so ``sex`` gives ``sexM``): the identity matrix without its
  first column, built here directly;
* ordered factors: ``contr.poly`` (orthonormal polynomials on 1..k; columns
  ``.L``, ``.Q``, ``.C``, ``^4``, ...).  formulaic's ``PolyContrasts`` agrees with R's
  ``contr.poly`` to about 1e-15.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mixedfx.errors import ArgumentError
from mixedfx.lazy import lazy_module

# formulaic costs ~80 ms at import; only needed here for contr.poly (ordered factors)
formulaic_contrasts = lazy_module("formulaic.transforms.contrasts")

__all__ = ["contrast_matrix", "poly_contrast_names"]


def poly_contrast_names(k: int) -> list[str]:
    """R's column names of ``contr.poly(k)``."""
    named = [".L", ".Q", ".C"]
    return [named[i] if i < 3 else f"^{i + 1}" for i in range(k - 1)]


def contrast_matrix(
    levels: Sequence[str], ordered: bool, variable: str = "factor"
) -> tuple[np.ndarray, list[str], str]:
    """The ``k x (k-1)`` contrast matrix, its column suffixes and R's contrast name.

    Raises:
        ValueError: fewer than two levels (R: "contrasts can be applied only to
            factors with 2 or more levels").
    """
    k = len(levels)
    if k < 2:
        raise ArgumentError(
               f"contrasts can be applied only to factors with 2 or more levels: "
               f"'{variable}' has {k} level{'s' if k != 1 else ''}"
        )
    labels = [str(v) for v in levels]
    if ordered:
        coding = formulaic_contrasts.PolyContrasts().get_coding_matrix(labels, reduced_rank=True)
        return np.asarray(coding, dtype=float), poly_contrast_names(k), "contr.poly"
    # contr.treatment: row i codes level i; level 1 (the reference) is all zeros.
    return np.eye(k)[:, 1:], labels[1:], "contr.treatment"
