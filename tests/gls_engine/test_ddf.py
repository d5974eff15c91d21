"""gls Satterthwaite df: the same REML likelihood fitted as gls (corCompSymm + varIdent) and
as a heterogeneous compound-symmetry MMRM gives the same df (two parameterizations, one
invariant quantity)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import mixedfx as mfx
from mixedfx.gls_engine.ddf import GlsSatterthwaite

REF = Path(__file__).resolve().parents[1] / "reference" / "mmrm"


def test_gls_df_equal_csh_mmrm_df():
    d = pd.read_csv(REF / "fev_data.csv").dropna(subset=["FEV1"])
    d = d[d["USUBJID"].isin([f"PT{i}" for i in range(1, 81)])].copy()
    d["AVISIT"] = pd.Categorical(d["AVISIT"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = mfx.gls("FEV1 ~ ARMCD", d, correlation=mfx.cor_comp_symm("~ 1 | USUBJID"),
                    weights=mfx.var_ident("~ 1 | AVISIT"))
        m = mfx.mmrm("FEV1 ~ ARMCD + csh(AVISIT | USUBJID)", d)
    np.testing.assert_allclose(g.deviance, m.deviance, rtol=1e-7)
    s = GlsSatterthwaite(g._frame, g._fit)
    for c in (np.array([0.0, 1.0]), np.array([1.0, 0.5])):
        np.testing.assert_allclose(s.df(c), m.contrast([c])["df"].iloc[0], rtol=1e-4)
