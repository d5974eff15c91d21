"""Saving and loading MMRM fits (`fitted.saving`, `mixedfx.loading`; kind "mmrm"): every
public quantity of the loaded model is identical to the original's for each df method and
covariance of β̂, for grouped, weighted and spatial structures; pickle and deepcopy too;
edited fields are refused."""

from __future__ import annotations

import copy
import io
import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.errors import DataError
from mixedfx.fitted.model_file import checksum

REF = Path(__file__).resolve().parents[1] / "reference" / "mmrm"
US = "FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)"
CASES = {
    "sat_asymptotic": (US, {}),
    "sat_empirical": (US, {"vcov": "Empirical"}),
    "sat_jackknife": (US, {"vcov": "Empirical-Jackknife"}),
    "sat_bias_reduced": (US, {"vcov": "Empirical-Bias-Reduced"}),
    "kr": (US, {"method": "Kenward-Roger"}),
    "kr_linear_vcov": (US, {"method": "Kenward-Roger", "vcov": "Kenward-Roger-Linear"}),
    "kr_linear": (US, {"method": "Kenward-Roger-Linear"}),
    "residual": (US, {"method": "Residual"}),
    "between_within": (US, {"method": "Between-Within"}),
    "weighted_ml": (US, {"reml": False, "weights": "WEIGHT"}),
    "grouped_csh": ("FEV1 ~ ARMCD * AVISIT + csh(AVISIT | ARMCD / USUBJID)", {}),
    "ar1_kr": ("FEV1 ~ ARMCD * AVISIT + ar1(AVISIT | USUBJID)", {"method": "Kenward-Roger"}),
    "sp_exp": ("FEV1 ~ ARMCD + sp_exp(VISITN, VISITN2 | USUBJID)", {}),
}


def _fev() -> pd.DataFrame:
    d = pd.read_csv(REF / "fev_data.csv")
    for line in (REF / "fev_data_levels.tsv").read_text().splitlines():
        col, *levels = line.split("\t")
        d[col] = pd.Categorical(d[col].astype(str), categories=levels)
    return d


@pytest.fixture(scope="module")
def fev() -> pd.DataFrame:
    return _fev()


@pytest.fixture(scope="module")
def fits(fev) -> dict[str, object]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {k: mfx.mmrm(f, fev, **kw) for k, (f, kw) in CASES.items()}


def _same(m, m2, newdata: pd.DataFrame) -> None:
    """Every public quantity equal to the last bit."""
    pd.testing.assert_series_equal(m.fixef, m2.fixef, check_exact=True)
    np.testing.assert_array_equal(m.theta, m2.theta)
    np.testing.assert_array_equal(m.theta_vcov, m2.theta_vcov)
    pd.testing.assert_frame_equal(m.vcov, m2.vcov, check_exact=True)
    pd.testing.assert_frame_equal(m.vcov_asymptotic, m2.vcov_asymptotic, check_exact=True)
    cov, cov2 = m.cov_matrix(), m2.cov_matrix()
    if isinstance(cov, dict):
        assert list(cov) == list(cov2)
        for k in cov:
            pd.testing.assert_frame_equal(cov[k], cov2[k], check_exact=True)
    else:
        pd.testing.assert_frame_equal(cov, cov2, check_exact=True)
    pd.testing.assert_frame_equal(m.coef_table(), m2.coef_table(), check_exact=True)
    pd.testing.assert_frame_equal(m.anova(), m2.anova(), check_exact=True)
    pd.testing.assert_frame_equal(m.confint(), m2.confint(), check_exact=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pd.testing.assert_frame_equal(m.predict(), m2.predict(), check_exact=True)
        pd.testing.assert_frame_equal(m.predict(newdata), m2.predict(newdata),
                                      check_exact=True)
    assert str(m.summary()) == str(m2.summary())
    assert repr(m) == repr(m2)
    for a in ("deviance", "aic", "aicc", "bic", "nobs", "n_subjects", "npar", "REML",
              "method", "vcov_method", "formula", "structure"):
        assert getattr(m, a) == getattr(m2, a), a


@pytest.mark.parametrize("name", list(CASES))
def test_save_load_round_trip(fits, fev, name: str, tmp_path: Path) -> None:
    m = fits[name]
    path = m.save(tmp_path / name)
    m2 = mfx.load(path)
    _same(m, m2, fev.head(40))
    again = m2.save(tmp_path / f"{name}_again")
    with np.load(path, allow_pickle=False) as a, np.load(again, allow_pickle=False) as b:
        assert a["sha256"].tobytes() == b["sha256"].tobytes()


@pytest.mark.parametrize("name", ["kr", "grouped_csh", "sp_exp"])
def test_pickle_and_deepcopy(fits, fev, name: str, tmp_path: Path) -> None:
    m = fits[name]
    _same(m, pickle.loads(pickle.dumps(m)), fev.head(40))
    _same(m, copy.deepcopy(m), fev.head(40))
    loaded = mfx.load(m.save(tmp_path / name))
    _same(m, pickle.loads(pickle.dumps(loaded)), fev.head(40))


def test_bic_keeps_the_subjects_without_used_rows(fits, tmp_path: Path) -> None:
    """SAS's BIC counts every subject in the data; the file stores only the used rows."""
    m = fits["sat_asymptotic"]
    assert m._design.n_subjects_data > m.n_subjects      # fev_data has such subjects
    assert mfx.load(m.save(tmp_path / "m")).bic == m.bic


def _edited(src: Path, dst: Path, meta_edit=None, arrays: dict | None = None) -> Path:
    with np.load(src, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    meta = json.loads(members["meta.json"].tobytes().decode())
    if meta_edit is not None:
        meta_edit(meta)
    members["meta.json"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    members.update(arrays or {})
    members.pop("sha256")
    members["sha256"] = np.frombuffer(checksum(members).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **members)
    dst.write_bytes(buf.getvalue())
    return dst


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.update(method="Kenward"), "method"),
    (lambda d: d.update(REML=False, method="Kenward-Roger", vcov="Kenward-Roger"),
     "do not go together"),
    (lambda d: d.update(n_subjects_data=3), "n_subjects_data"),
    (lambda d: d.update(criterion=d["criterion"] + 1e-3), "criterion"),
    (lambda d: d.update(REML=not d["REML"]), r"criterion|did not converge"),
    (lambda d: d.update(messages=["x"]), "messages"),
    (lambda d: d.update(extra=1), "unexpected field"),
    (lambda d: d.update(formula=US.replace("us(", "cs(")), "theta"),
])
def test_edited_fields_are_refused(fits, tmp_path: Path, edit, match: str) -> None:
    src = fits["sat_asymptotic"].save(tmp_path / "src")
    with pytest.raises(DataError, match=match):
        mfx.load(_edited(src, tmp_path / "bad.npz", edit))


def test_edited_estimates_are_refused(fits, tmp_path: Path) -> None:
    m = fits["kr"]
    src = m.save(tmp_path / "src")
    theta = m.theta
    theta[0] += 1e-3
    with pytest.raises(DataError, match=r"does not match|do not rebuild"):
        mfx.load(_edited(src, tmp_path / "t.npz", arrays={"theta": theta}))
    beta = m.beta
    beta[1] += 1e-4 * np.abs(beta).max()          # (β agrees to 1e-7 of its largest |β_j|)
    with pytest.raises(DataError, match="beta"):
        mfx.load(_edited(src, tmp_path / "b.npz", arrays={"beta": beta}))
    with pytest.raises(DataError, match="theta"):
        mfx.load(_edited(src, tmp_path / "s.npz", arrays={"theta": theta[:-1]}))
