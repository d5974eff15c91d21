"""`mfx.mmrm` against SAS PROC MIXED's numbers (tests/reference/mmrm/sas_cases.json, each
value citing the mmrm test file and line that hard-codes it). Values are compared as R's
`all.equal` (mean relative difference) at the tolerance the source test uses or 1e-3."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import mixedfx as mfx

REF = Path(__file__).resolve().parents[1] / "reference" / "mmrm"
CASES = json.loads((REF / "sas_cases.json").read_text())["cases"]
_FITS: dict[tuple, object] = {}


def _fit(case: dict, data):
    key = (case["formula"], case["reml"], case["method"], case["vcov"], case["weights"])
    if key not in _FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[key] = mfx.mmrm(case["formula"], data, reml=case["reml"],
                                  weights=case["weights"], method=case["method"],
                                  vcov=case["vcov"])
    return _FITS[key]


def _sigma(m, check):
    cov = m.cov_matrix()
    frame = cov[check["group"]] if "group" in check else cov
    return frame.to_numpy()


def _lower_colmajor(S):
    n = S.shape[0]
    return np.array([S[i, j] for j in range(n) for i in range(j + 1, n)])


def _actual(m, check, fev):
    what = check["what"]
    if what == "deviance":
        return [m.deviance]
    if what in ("aic", "aicc", "bic"):
        return [getattr(m, what)]
    if what == "beta":
        return [m.beta[check["index"]]]
    if what == "se":
        return [math.sqrt(m.vcov.to_numpy()[check["index"], check["index"]])]
    if what == "sigma_var":
        d = np.diag(_sigma(m, check))
        return [d[check["index"]]] if "index" in check else list(d)
    if what == "sigma_lower":
        low = _lower_colmajor(_sigma(m, check))
        return [low[check["index"]]] if "index" in check else list(low)
    if what == "corr":
        S = _sigma(m, check)
        return [S[i, j] / math.sqrt(S[i, i] * S[j, j]) for i, j in check["pairs"]]
    if what == "sp_var":
        return [m.cov_matrix().to_numpy()[0, 0]]
    if what in ("sp_corr", "sp_gau_range"):
        S = m.cov_matrix().to_numpy()
        rho = S[0, 1] / S[0, 0]                                # correlation at distance 1
        if what == "sp_gau_range":
            return [math.sqrt(-1.0 / math.log(rho))]
        if "rows" in check:
            used = fev.iloc[check["rows"]][["VISITN", "VISITN2"]].to_numpy(float)
            dist = float(np.linalg.norm(used[0] - used[1]))
        else:
            dist = check["distance"]
        return [rho ** dist]
    if what.startswith("contrast_"):
        c = np.zeros(len(m.fixef))
        c[:len(check["contrast"])] = check["contrast"]
        row = m.contrast(c).iloc[0]
        col = {"contrast_est": "Estimate", "contrast_se": "Std. Error", "contrast_df": "df",
               "contrast_df_round": "df", "contrast_t": "t value"}[what]
        v = row[col]
        return [round(v)] if what.endswith("_round") else [v]
    if what.startswith("f_"):
        L = np.zeros((len(check["rows"]), len(m.fixef)))
        for r, cols in enumerate(check["rows"]):
            L[r, cols] = 1.0
        res = m.f_test(L)
        return {"f_numdf": [res["NumDF"]], "f_dendf_round": [round(res["DenDF"])],
                "f_value": [res["F value"]]}[what]
    if what == "vcov":
        V = m.vcov.to_numpy()
        return [V[i, j] for i, j in check["entries"]]
    if what == "confint":
        return list(m.confint().to_numpy().ravel())
    if what.startswith("emmean"):
        em = mfx.emmeans(m, "ARMCD", by="AVISIT")
        col = {"emmean": "emmean", "emmean_se": "SE", "emmean_df_round": "df",
               "emmean_df": "df"}[what]
        v = em[col].to_numpy()
        return list(np.round(v)) if what.endswith("_round") else list(v)
    if what.startswith("predict_"):
        pred = m.predict(newdata=fev).iloc[check["rows"]]
        return list(pred["fit" if what == "predict_fit" else "se"])
    if what.startswith("anova"):
        tab = m.anova(type=int(what[5]))
        return list(tab["DenDF" if what.endswith("dendf") else "F value"])
    raise AssertionError(f"unknown check {what}")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_sas_case(case, fev):
    m = _fit(case, fev)
    for check in case["checks"]:
        got = np.asarray(_actual(m, check, fev), float)
        want = np.asarray(check["values"], float)
        assert got.shape == want.shape, check
        if "atol" in check:
            np.testing.assert_array_less(np.abs(got - want), check["atol"],
                                         err_msg=check["source"])
        elif check["rtol"] == 0:
            np.testing.assert_array_equal(got, want, err_msg=check["source"])
        else:
            # R's all.equal, as the source tests assert: mean relative difference (SAS's
            # convergence criterion leaves ~1e-3 noise in single covariance entries)
            diff = np.mean(np.abs(got - want)) / np.mean(np.abs(want))
            assert diff < check["rtol"], (check["what"], check["source"], got, want, diff)
