"""The shared glmmTMB cases gpa_tmb_diag and gpa_tmb_ar1 (tests/reference/*.json) at the
reference README's tolerances and caveats: gpa_tmb_diag only in its identified quantities
(loglik, AIC, BIC, fixef, SEs, vcov, the student intercept SD, per-occasion total variance,
population predictions); gpa_tmb_ar1 in everything, its boundary intercept SD absolutely."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

try:
    from reference import cases
except ImportError:  # pytest run with --import-mode=importlib
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from reference import cases

import mixedfx as mfx

_FITS: dict[str, tuple] = {}


def fit(cid: str):
    if cid not in _FITS:
        case = cases.load_case(cid)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = mfx.lmer(case["formula"], cases.load_data(case), REML=False)
        _FITS[cid] = (m, case["expected"])
    return _FITS[cid]


def newdata(e: dict) -> pd.DataFrame:
    nd = pd.DataFrame(e["predict"]["newdata"])
    nd["student"] = nd["student"].replace(cases.NEW_LEVEL, "999999")
    return nd


@pytest.mark.parametrize("cid", ["gpa_tmb_diag", "gpa_tmb_ar1"])
def test_identified_quantities(cid: str) -> None:
    m, e = fit(cid)
    assert m.nobs == e["nobs"]
    assert m.ngrps == e["ngrps"]
    assert m.loglik == pytest.approx(e["loglik"], abs=1e-3)
    assert m.aic == pytest.approx(e["aic"], abs=1e-3)
    assert m.bic == pytest.approx(e["bic"], abs=1e-3)
    assert m.npar == e["df"]
    np.testing.assert_allclose(m.fixef.to_numpy(), list(e["fixef"].values()), rtol=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov.to_numpy())),
                               list(e["fixef_se"].values()), rtol=1e-3)
    V = np.asarray(e["vcov"]["matrix"], dtype=float).reshape(2, 2)
    np.testing.assert_allclose(m.vcov.to_numpy(), V, rtol=2e-3)
    np.testing.assert_allclose(m.predict(newdata(e), re_form="NA", allow_new_levels=True),
                               e["predict"]["re_form_NA"], rtol=1e-4)


def test_diag_student_sd_and_total_variances() -> None:
    m, e = fit("gpa_tmb_diag")
    comps = {c.structure: c for c in m.re_covariances()}
    assert set(comps) == {"us", "diag"}
    ref = {c["structure"]: c for c in e["varcorr_components"]}
    assert comps["us"].sd[0] == pytest.approx(ref["us"]["sd"][0], rel=1e-3)
    total = comps["diag"].sd ** 2 + m.sigma**2
    np.testing.assert_allclose(total, list(e["per_occasion_total_var"].values()), rtol=1e-3)
    assert comps["diag"].names == list(e["per_occasion_total_var"])


def test_ar1_everything() -> None:
    m, e = fit("gpa_tmb_ar1")
    assert m.sigma == pytest.approx(e["sigma"], rel=1e-3)
    ar1 = next(c for c in m.re_covariances() if c.structure == "ar1")
    assert ar1.sd == pytest.approx(np.full(6, e["ar1_sd"]), rel=1e-3)
    assert ar1.corr[1, 0] == pytest.approx(e["ar1_rho"], rel=1e-3)
    ref = next(c for c in e["varcorr_components"] if c["structure"] == "ar1")
    np.testing.assert_allclose(ar1.cov, np.asarray(ref["vcov_matrix"]), rtol=2e-3)
    intercept = next(c for c in m.re_covariances() if c.structure == "us")
    assert intercept.sd[0] == pytest.approx(1.7e-5, abs=1e-3)     # boundary: absolute
    re = m.ranef()["student"]
    ranef = e["ranef"]["student"]
    got = re.loc[[str(v) for v in ranef["levels"]], ranef["terms"]].to_numpy()
    np.testing.assert_allclose(got, np.asarray(ranef["values"]), atol=1e-3 * 0.3)
    np.testing.assert_allclose(m.fitted()[:10], e["fitted_head"], atol=1e-4)
    np.testing.assert_allclose(m.predict(newdata(e), allow_new_levels=True),
                               e["predict"]["full_allow_new_levels"], atol=1e-4)
