"""Save (`fitted.saving`) / load (`mixedfx.loading`) and pickle / deepcopy round trips of
every model kind: lmer with and without nlme residual structures and glmmTMB-style
covariance terms, gls,
glmer (families, links, nAGQ 0 / 1 / 5, Gamma with the ML dispersion and with lme4's),
glmer_nb, lm and glm. The loaded (unpickled, copied) model reports identical numbers: fixef,
vcov, θ, ranef with conditional variances, varcorr, residual-structure parameters, σ,
logLik, predictions on new data and the summary text."""

from __future__ import annotations

import copy
import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.errors import DataError
from mixedfx.fitted.saving import FORMAT_VERSION


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def _visits() -> pd.DataFrame:
    """Subjects measured at four times (AR(1) subject-by-time effects), a positive response
    for the Gamma fits."""
    rng = np.random.default_rng(1)
    ids, times, reps = 24, 4, 2
    lag = np.abs(np.subtract.outer(np.arange(times), np.arange(times)))
    b = rng.multivariate_normal(np.zeros(times), 0.6**lag, size=ids)
    d = pd.DataFrame([(i, t, r) for i in range(ids) for t in range(times) for r in range(reps)],
                     columns=["id", "time", "rep"])
    d["y"] = 10 + 0.5 * d["time"] + b[d["id"], d["time"]] + rng.normal(0, 0.5, len(d))
    d["g"] = np.exp(0.1 * d["y"] + 0.3 * b[d["id"], 0]) * rng.gamma(5, 1 / 5, len(d))
    d["id"] = d["id"].astype(str).astype("category")
    d["ftime"] = d["time"].astype(str).astype("category")
    return d


def _cbpp_positive() -> pd.DataFrame:
    """cbpp with a positive response, prior weights and an offset."""
    cb = mfx.datasets.load("cbpp")
    rng = np.random.default_rng(2)
    return cb.assign(pos=rng.gamma(3, (1 + cb["incidence"]) / 3, len(cb)),
                     w=rng.uniform(0.5, 2, len(cb)), off=rng.normal(0, 0.1, len(cb)))


MODELS = {
    # kind: (fit, data name)
    "lmer": (lambda D: mfx.lmer("Reaction ~ Days + (Days | Subject)", D["sl"]), "sl"),
    "lmer_ml_weights_offset": (lambda D: mfx.lmer(
        "Reaction ~ Days + offset(Days) + (1 | Subject)", D["sl"], REML=False,
        weights=np.linspace(1, 2, len(D["sl"]))), "sl"),
    "lmer_var_ident": (lambda D: mfx.lmer("distance ~ age + (1 | Subject)", D["orth"],
                                          weights=mfx.var_ident("~ 1 | Sex")), "orth"),
    "lmer_cor_ar1": (lambda D: mfx.lmer("distance ~ age + (1 | Subject)", D["orth"],
                                        correlation=mfx.cor_ar1("~ 1 | Subject")), "orth"),
    "lmer_var_power_cs": (lambda D: mfx.lmer(
        "distance ~ age + (1 | Subject)", D["orth"], REML=False,
        weights=mfx.var_power("~ age"), correlation=mfx.cor_comp_symm("~ 1 | Subject")),
        "orth"),
    "lmer_var_exp_car1": (lambda D: mfx.lmer(
        "distance ~ age + (1 | Subject)", D["orth"], weights=mfx.var_exp("~ age"),
        correlation=mfx.cor_car1("~ age | Subject")), "orth"),
    "tmb_ar1": (lambda D: mfx.lmer("y ~ time + ar1(0 + ftime | id)", D["vis"], REML=False),
                "vis"),
    "tmb_toep": (lambda D: mfx.lmer("y ~ time + toep(0 + ftime | id)", D["vis"],
                                    REML=False), "vis"),
    "tmb_diag_cs": (lambda D: mfx.lmer("y ~ time + diag(0 + ftime | id) + cs(0 + ftime | rep)",
                                       D["vis"]), "vis"),
    "tmb_toep_pastes": (lambda D: mfx.lmer("strength ~ 1 + toep(0 + cask | batch)",
                                           D["pastes"]), "pastes"),
    "tmb_ar1_pastes_ml": (lambda D: mfx.lmer("strength ~ 1 + ar1(0 + cask | batch)",
                                             D["pastes"], REML=False), "pastes"),
    "gls_var_ident": (lambda D: mfx.gls("distance ~ age", D["orth"],
                                        weights=mfx.var_ident("~ 1 | Sex")), "orth"),
    "gls_cor_symm": (lambda D: mfx.gls("y ~ time", D["vis0"], REML=False,
                                       correlation=mfx.cor_symm("~ time | id")), "vis0"),
    "gls_plain": (lambda D: mfx.gls("distance ~ age", D["orth"]), "orth"),
    "glmer": (lambda D: mfx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                                  D["cb"]), "cb"),
    "glmer_probit_agq": (lambda D: mfx.glmer(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)", D["cb"],
        link="probit", nAGQ=5), "cb"),
    "glmer_nagq0": (lambda D: mfx.glmer(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)", D["cb"], nAGQ=0), "cb"),
    "glmer_poisson": (lambda D: mfx.glmer("incidence ~ period + (1 | herd)", D["cb"],
                                          family="poisson"), "cb"),
    "glmer_cloglog_offset": (lambda D: mfx.glmer(
        "cbind(incidence, size - incidence) ~ period + offset(off) + (1 | herd)", D["cbp"],
        link="cloglog"), "cbp"),
    "glmer_inverse_gaussian": (lambda D: mfx.glmer("pos ~ period + (1 | herd)", D["cbp"],
                                                   family="inverse_gaussian", link="log"),
                               "cbp"),
    "glmer_gaussian_log_weights": (lambda D: mfx.glmer(
        "pos ~ period + (1 | herd)", D["cbp"], family="gaussian", link="log", weights="w"),
        "cbp"),
    "glmer_gamma_ml": (lambda D: mfx.glmer("g ~ time + (1 | id)", D["vis"],
                                           family=mfx.families.Gamma(link="log")), "vis"),
    "glmer_gamma_lme4": (lambda D: mfx.glmer("g ~ time + (1 | id)", D["vis"],
                                             family=mfx.families.Gamma(link="log"),
                                             dispersion="lme4"), "vis"),
    "glmer_nb": (lambda D: mfx.glmer_nb("incidence ~ period + (1 | herd)", D["cb"]), "cb"),
    "lm": (lambda D: mfx.lm("distance ~ age * Sex", D["orth"],
                            weights=np.linspace(1, 2, len(D["orth"]))), "orth"),
    "glm": (lambda D: mfx.glm("cbind(incidence, size - incidence) ~ period", D["cb"],
                              family="binomial"), "cb"),
    "glm_gamma": (lambda D: mfx.glm("g ~ time", D["vis"], family=mfx.families.Gamma()),
                  "vis"),
}


@pytest.fixture(scope="module")
def data() -> dict[str, pd.DataFrame]:
    return {"sl": mfx.datasets.load("sleepstudy"), "cb": mfx.datasets.load("cbpp"),
            "orth": mfx.datasets.load("Orthodont"), "vis": _visits(),
            "pastes": mfx.datasets.load("Pastes"), "cbp": _cbpp_positive(),
            "vis0": _visits().query("rep == 0").reset_index(drop=True)}


@pytest.fixture(scope="module")
def fits(data) -> dict[str, tuple[object, pd.DataFrame]]:
    return {k: (_quiet(fit, data), data[d]) for k, (fit, d) in MODELS.items()}


def _frames_equal(a, b) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(b, a)
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(b, a)
    else:
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a))


def _same(m, m2, data: pd.DataFrame) -> None:
    """Every public quantity of m2 equals m's exactly."""
    assert type(m2) is type(m)
    assert str(m2.summary()) == str(m.summary())
    pd.testing.assert_series_equal(m2.fixef, m.fixef)
    pd.testing.assert_frame_equal(m2.vcov, m.vcov)
    assert m2.loglik == m.loglik and m2.sigma == m.sigma and m2.aic == m.aic
    new = data.iloc[:7]
    _frames_equal(m.predict(new), m2.predict(new))
    _frames_equal(m.fitted(), m2.fitted())
    if hasattr(m, "theta"):
        np.testing.assert_array_equal(m2.theta, m.theta)
        _frames_equal(m.predict(data, re_form="NA"), m2.predict(data, re_form="NA"))
        pd.testing.assert_frame_equal(m2.varcorr, m.varcorr)
        for g, re in m.ranef(condvar=True).items():
            re2 = m2.ranef(condvar=True)[g]
            pd.testing.assert_frame_equal(re2, re)
            pd.testing.assert_frame_equal(re2.attrs["condsd"], re.attrs["condsd"])
        assert m2.to_dict() == m.to_dict()
    for attr in ("var_struct", "cor_struct"):
        if hasattr(m, attr):
            s, s2 = getattr(m, attr), getattr(m2, attr)
            assert (s is None) == (s2 is None)
            if s is not None:
                assert (s2.name, s2.form) == (s.name, s.form)
                pd.testing.assert_series_equal(s2.params, s.params)
    if hasattr(m, "dispersion_method"):
        assert m2.dispersion_method == m.dispersion_method


@pytest.mark.parametrize("name", list(MODELS))
def test_save_load_round_trip(fits, name: str, tmp_path: Path) -> None:
    m, data = fits[name]
    path = m.save(tmp_path / name)
    assert path.suffix == ".npz"
    m2 = mfx.load(path)
    _same(m, m2, data)
    # the loaded model saves the same content again (same checksum)
    again = m2.save(tmp_path / f"{name}_again")
    with np.load(path, allow_pickle=False) as a, np.load(again, allow_pickle=False) as b:
        assert a["sha256"].tobytes() == b["sha256"].tobytes()


@pytest.mark.parametrize("name", list(MODELS))
def test_pickle_and_deepcopy_round_trip(fits, name: str) -> None:
    """Identical numbers after pickling (the structured terms' cross-products are held in C
    order, which a pickled copy keeps: no vcov drift through the memory layout)."""
    m, data = fits[name]
    _same(m, pickle.loads(pickle.dumps(m)), data)
    _same(m, copy.deepcopy(m), data)


def test_loaded_model_keeps_structures_and_dispersion(fits, tmp_path: Path) -> None:
    """The silent losses the format had: nlme structures and the ML dispersion."""
    m, _ = fits["lmer_var_ident"]
    m2 = mfx.load(m.save(tmp_path / "vi"))
    assert m2.var_struct is not None and m2.var_struct.name == "varIdent"
    g, _ = fits["glmer_gamma_ml"]
    g2 = mfx.load(g.save(tmp_path / "gamma"))
    assert g2.dispersion_method == "ML" and g2.sigma == g.sigma


def test_loaded_model_refits_through_its_fitting_function(fits, tmp_path: Path) -> None:
    """A loaded model records the function that fitted it (`fitted_by`), so `update` refits
    it as it refits the original (on the stored rows: the same fit)."""
    for name, fitting in (("lmer_var_ident", mfx.lmer), ("glmer", mfx.glmer),
                          ("gls_plain", mfx.gls)):
        m, _ = fits[name]
        assert m.fitted_by is fitting
        assert mfx.load(m.save(tmp_path / name)).fitted_by is fitting
    m, _ = fits["lmer_var_ident"]
    m2 = mfx.load(tmp_path / "lmer_var_ident.npz")
    u, u2 = _quiet(m.update, REML=False), _quiet(m2.update, REML=False)
    assert u2.var_struct.name == "varIdent" and not u2.REML
    np.testing.assert_allclose(u2.loglik, u.loglik, rtol=1e-9)
    g, _ = fits["glmer"]
    g2 = mfx.load(tmp_path / "glmer.npz")
    h, h2 = _quiet(g.update, ". ~ . - period"), _quiet(g2.update, ". ~ . - period")
    np.testing.assert_allclose(h2.loglik, h.loglik, rtol=1e-9)


def test_file_is_code_free_versioned_and_checksummed(fits, tmp_path: Path) -> None:
    m, _ = fits["glmer_nb"]
    path = m.save(tmp_path / "nb.npz")
    with np.load(path, allow_pickle=False) as z:          # no pickled objects inside
        meta = json.loads(z["meta.json"].tobytes().decode())
        assert {"theta", "beta", "u/0", "col/0", "sha256"} <= set(z.files)
        assert all(z[k].dtype != object for k in z.files)
        assert len(z["sha256"].tobytes()) == 64
    assert meta["format"] == "mixedfx-fit" and meta["version"] == FORMAT_VERSION
    assert meta["kind"] == "glmer" and meta["family"] == "negative.binomial"
    assert meta["nb_theta"] == pytest.approx(m.nb_theta, rel=0, abs=0)
    assert meta["formula"] == "incidence ~ period + (1 | herd)"


def test_integer_category_labels_survive(tmp_path: Path) -> None:
    """A grouping factor with integer categories keeps them: predict with the user's
    integer labels still finds the levels."""
    sl = mfx.datasets.load("sleepstudy").copy()
    sl["Subject"] = sl["Subject"].astype(int).astype("category")
    m = _quiet(mfx.lmer, "Reaction ~ Days + (1 | Subject)", sl)
    m2 = mfx.load(m.save(tmp_path / "int"))
    np.testing.assert_array_equal(m2.predict(sl.iloc[:5]), m.predict(sl.iloc[:5]))


@pytest.mark.parametrize("tz", [None, "Europe/Paris"])
def test_datetime_grouping_column_keeps_its_type(tmp_path: Path, tz: str | None) -> None:
    """A datetime grouping column is stored as integer ticks with its unit and time zone and
    comes back as the same datetime column (not strings, not a category); predict with the
    user's timestamps finds the levels."""
    rng = np.random.default_rng(4)
    day = pd.Series(pd.to_datetime(rng.choice(["2020-01-01", "2020-03-01", "2021-06-30",
                                               "2022-02-02"], 80)))
    d = pd.DataFrame({"y": rng.normal(size=80), "x": rng.normal(size=80),
                      "day": day if tz is None else day.dt.tz_localize(tz)})
    m = _quiet(mfx.lmer, "y ~ x + (1 | day)", d)
    m2 = mfx.load(m.save(tmp_path / "dt"))
    assert m2.model_frame()["day"].dtype == m.model_frame()["day"].dtype
    pd.testing.assert_series_equal(m2.model_frame()["day"], m.model_frame()["day"])
    assert str(m2.summary()) == str(m.summary())
    np.testing.assert_array_equal(m2.predict(d.iloc[:7]), m.predict(d.iloc[:7]))


def test_column_of_another_type_is_refused_at_save(tmp_path: Path) -> None:
    """A grouping column a model file cannot keep with its type (here timedeltas) is refused
    at save naming the column, instead of being stored as strings."""
    d = pd.DataFrame({"y": np.arange(12.0) % 5, "x": np.arange(12.0),
                      "g": pd.to_timedelta([1, 2, 3] * 4, unit="D")})
    m = _quiet(mfx.lmer, "y ~ x + (1 | g)", d)
    assert m.model_frame()["g"].dtype.kind == "m"
    with pytest.raises(DataError, match=r"column 'g' is a timedelta64\[.s\] column holding "
                                        r"Timedelta values"):
        m.save(tmp_path / "td")


def test_dask_fit_refuses_to_save_with_the_reason(tmp_path: Path) -> None:
    pytest.importorskip("dask.dataframe")
    from mixedfx.distributed.results import DaskReplicates

    with pytest.raises(DataError, match=r"Dask data.*pickle"):
        DaskReplicates.save(object(), tmp_path / "d.npz")


def test_save_refuses_other_objects(tmp_path: Path) -> None:
    from mixedfx.fitted.saving import save_model

    with pytest.raises(DataError, match="cannot save a dict"):
        save_model({}, tmp_path / "x.npz")


def test_save_refuses_bad_paths(fits, tmp_path: Path) -> None:
    from mixedfx.errors import ArgumentTypeError

    m, _ = fits["lm"]
    with pytest.raises(ArgumentTypeError, match="path must be a str"):
        m.save(3)
    with pytest.raises(DataError, match="cannot write the model file"):
        m.save(tmp_path / "no" / "such" / "dir" / "m.npz")
