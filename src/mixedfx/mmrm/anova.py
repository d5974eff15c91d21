"""Contrast matrices of the fixed-effects terms for the MMRM's F tests.

Type III: lmerTest's construction (`mixedfx.inference.contrasts.type3_contrasts`), which for
treatment-coded factors gives SAS's Type III hypotheses (each term tested with the terms
containing it orthogonalized away).
"""

from __future__ import annotations

import numpy as np

from mixedfx.errors import ArgumentError
from mixedfx.frame.model_frame import ModelFrame


def term_contrasts(frame: ModelFrame, type: int | str = 3) -> dict[str, np.ndarray]:
    """One contrast matrix per term (R's term labels, in formula order)."""
    from mixedfx.inference.contrasts import type3_contrasts

    key = str(type).upper()
    if key in ("3", "III"):
        return type3_contrasts(frame)
    raise ArgumentError(f"type must be 3 (or 'III'), got {type!r}")
