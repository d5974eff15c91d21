"""glmer features beyond the shared cases, against lme4 1.1-31 (tests/reference/extra/
make_extra_glmer.R), and glmer's input checks."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.families import negative_binomial

EXTRA_DIR = Path(__file__).parents[1] / "reference" / "extra"
CASES = {c["id"]: c for c in json.loads((EXTRA_DIR / "extra_glmer.json").read_text())}


def data_for(cid: str) -> pd.DataFrame:
    c = CASES[cid]
    if c["data_note"] == "gamma_sim.csv":
        d = pd.read_csv(EXTRA_DIR / "gamma_sim.csv")
        d["g"] = pd.Categorical(d.g)
        return d
    if cid == "binary_random_slope":
        return mfx.datasets.load("VerbAgg")
    if cid == "negbin":
        return mfx.datasets.load("grouseticks")
    return mfx.datasets.load("cbpp")


def fit(cid: str):
    c = CASES[cid]
    d = data_for(cid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if c["family"] == "negative.binomial":
            return mfx.glmer_nb(c["formula"], data=d), c
        # lme4 references: the dispersion as lme4 estimates it (not glmmTMB's ML default)
        return mfx.glmer(c["formula"], data=d, family=c["family"], link=c["link"],
                         nAGQ=c["nAGQ"], dispersion="lme4"), c


@pytest.mark.parametrize("cid", sorted(CASES))
def test_matches_lme4(cid: str) -> None:
    m, c = fit(cid)
    assert m.nobs == c["nobs"]
    assert m.loglik >= c["loglik"] - 1e-3
    assert m.loglik - c["loglik"] < 5e-2
    assert m.aic == pytest.approx(c["aic"] + 2 * (c["loglik"] - m.loglik), abs=1e-9)
    ref = np.array(list(c["fixef"].values()))
    se = np.array(list(c["fixef_se"].values()))
    assert list(m.fixef.index) == list(c["fixef"])
    assert np.all(np.abs(m.fixef.to_numpy() - ref) <= np.maximum(2e-3 * np.abs(ref), 2e-2 * se))
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov)), se, rtol=1e-2)
    np.testing.assert_allclose(m.theta, c["theta"], rtol=3e-3, atol=2e-3)
    np.testing.assert_allclose(m.varcorr.sdcor, c["sdcor"], rtol=3e-3, atol=2e-3)
    assert m.sigma == pytest.approx(c["sigma"], rel=3e-3)
    np.testing.assert_allclose(m.fitted()[:8], c["fitted_head"], rtol=3e-3)
    if "nb_theta" in c:
        assert m.nb_theta == pytest.approx(c["nb_theta"], rel=1e-3)
        assert "Negative Binomial(2.052" in str(m.summary())


def test_offset_enters_predictions() -> None:
    m, _ = fit("poisson_offset")
    d = mfx.datasets.load("cbpp").head(3)
    eta = m.predict(d, re_form="NA")
    X = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [1, 0, 1, 0]], dtype=float)
    np.testing.assert_allclose(eta, X @ m.beta + np.log(d["size"].to_numpy()))
    np.testing.assert_allclose(m.predict(d, re_form="NA", type="response"), np.exp(eta))


def test_nagq_above_one_needs_a_single_scalar_term() -> None:
    d = mfx.datasets.load("VerbAgg")
    with pytest.raises(ValueError, match="is only available for models with a single,"
                                         " scalar random-effects term"):
        mfx.glmer("r2 ~ Anger + (1 | id) + (1 | item)", data=d, family="binomial", nAGQ=5)


def test_observation_level_random_effect_fits() -> None:
    gt = mfx.datasets.load("grouseticks")
    m = mfx.glmer("TICKS ~ YEAR + (1 | INDEX)", data=gt, family="poisson")
    assert m.ngrps == {"INDEX": 403}
    assert m.varcorr.sdcor.iloc[0] > 0.5


@pytest.fixture(scope="module")
def cbpp() -> pd.DataFrame:
    return mfx.datasets.load("cbpp")


def test_binomial_response_outside_unit_interval(cbpp: pd.DataFrame) -> None:
    with pytest.raises(mfx.DataError,
                       match=r"binomial response 'incidence' has values outside \[0, 1\]"):
        mfx.glmer("incidence ~ period + (1 | herd)", data=cbpp, family="binomial")


def test_non_integer_successes(cbpp: pd.DataFrame) -> None:
    d = cbpp.assign(prop=cbpp.incidence / cbpp["size"] * 0.9)
    with pytest.raises(ValueError, match="non-integer #successes"):
        mfx.glmer("prop ~ period + (1 | herd)", data=d, family="binomial", weights="size")
    with pytest.raises(mfx.DataError,
                       match=r"has non-integer counts; cbind\(successes, failures\)"):
        mfx.glmer("cbind(incidence + 0.5, size - incidence) ~ period + (1 | herd)", data=cbpp,
                  family="binomial")


def test_poisson_counts_checked(cbpp: pd.DataFrame) -> None:
    with pytest.raises(mfx.DataError,
                       match=r"response 'y' has negative values .*the poisson family needs counts"):
        mfx.glmer("y ~ period + (1 | herd)", data=cbpp.assign(y=-cbpp.incidence),
                  family="poisson")
    with pytest.raises(mfx.DataError, match=r"response 'y' has non-integer values .*the "
                       r"poisson family needs whole-number counts"):
        mfx.glmer("y ~ period + (1 | herd)", data=cbpp.assign(y=cbpp.incidence + 0.5),
                  family="poisson")


def test_gamma_needs_positive_response(cbpp: pd.DataFrame) -> None:
    with pytest.raises(mfx.DataError, match=r"response 'incidence' has values <= 0 .*the Gamma "
                       r"family needs a response > 0"):
        mfx.glmer("incidence ~ period + (1 | herd)", data=cbpp, family="Gamma")


def test_unknown_family_and_link(cbpp: pd.DataFrame) -> None:
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    with pytest.raises(ValueError, match="unknown family 'binomal'"):
        mfx.glmer(f, data=cbpp, family="binomal")
    with pytest.raises(ValueError, match="unknown link 'logitt'"):
        mfx.glmer(f, data=cbpp, family="binomial", link="logitt")
    with pytest.raises(ValueError, match="link 'sqrt' is not available for the binomial"):
        mfx.glmer(f, data=cbpp, family=mfx.families.binomial(link="sqrt"))
    with pytest.raises(ValueError, match="theta must be positive"):
        negative_binomial(0)


def test_three_level_factor_response_refused(cbpp: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="exactly 2 levels"):
        mfx.glmer("period ~ size + (1 | herd)", data=cbpp, family="binomial")


def test_divergent_pirls_is_reported_not_garbage() -> None:
    # complete separation: the conditional modes run off to infinity
    d = pd.DataFrame({"g": np.repeat(list("abcdef"), 10), "x": np.tile(np.arange(10.0), 6)})
    d["y"] = (d.x > 4.5).astype(float)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            m = mfx.glmer("y ~ x + (1 | g)", data=d, family="binomial")
        except (RuntimeError, ValueError) as exc:
            assert "PIRLS" in str(exc) or "converge" in str(exc)
            return
    messages = " ".join(str(w.message) for w in caught)
    assert ("converge" in messages or "singular" in messages or "Hessian" in messages
            or abs(m.fixef["x"]) > 10), messages


def test_sparse_cross_product_path_gives_the_same_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large crossed GLMMs keep B sparse and refresh the pair-product matrix in place at each
    PIRLS step; forcing that path on VerbAgg must reproduce the dense-path fit. (The NumPy
    PIRLS: the compiled one, tests/glmm/test_pirls_kernel.py, keeps its own sparse B.)"""
    from mixedfx.glmm import pirls
    from mixedfx.lmm import crossproducts

    monkeypatch.setattr(pirls, "for_model", lambda _: None)
    f = "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)"
    d = mfx.datasets.load("VerbAgg")
    dense = mfx.glmer(f, data=d, family="binomial")
    monkeypatch.setattr(crossproducts, "DENSE_B_LIMIT", 0)
    sparse = mfx.glmer(f, data=d, family="binomial")
    assert sparse._fit.pirls._grams, "the sparse path was not taken"
    assert sparse.loglik == pytest.approx(dense.loglik, abs=1e-7)
    np.testing.assert_allclose(sparse.fixef, dense.fixef, rtol=1e-5)   # optimizer precision
    np.testing.assert_allclose(sparse.theta, dense.theta, rtol=1e-5)


def test_start_theta_and_fixef_skips_stage_one() -> None:
    """lme4's glmer(start = list(theta =, fixef =)): stage 2 starts there (glmer_nb's θ
    search warm-starts its refits this way)."""
    d = mfx.datasets.load("cbpp")
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    cold = mfx.glmer(f, d, family="binomial")
    warm = mfx.glmer(f, d, family="binomial",
                     start={"theta": cold.theta * 1.1, "fixef": cold.beta + 0.01})
    assert warm._fit.stage1.evaluations == 0
    assert warm.loglik == pytest.approx(cold.loglik, abs=1e-6)
    np.testing.assert_allclose(warm.beta, cold.beta, atol=2e-3)
    with pytest.raises(ValueError, match="start\\['fixef'\\] must have 4 values"):
        mfx.glmer(f, d, family="binomial", start={"theta": [1.0], "fixef": [0.0]})


def test_ml_dispersion_without_finite_likelihood_is_an_error() -> None:
    """Fuzz seed 20261202: 9 usable rows, 5 fixed effects and (1 | g:h) reproduce the
    response, the ML dispersion collapses to ~1e-7 and the log-likelihood was returned as
    -Inf; now a clear PirlsError (as fit_glmm gives for a non-finite Laplace objective)."""
    d = pd.DataFrame({
        "y": [1.8339176159894155, 0.49498693386127696, 0.38208938522470653,
              0.30668118217545304, 0.14111047161241658, 0.6445659031578839,
              0.18539149057825516, 0.5755350013618533, 0.16138214674209206,
              0.3153008853143056, 0.2821000787497274, 0.306892999377024],
        "x": [-0.971037295041827, -0.37857003206863515, -0.2601499720170918,
              0.3143287057812609, -1.325535869630594, -2.039837380226958,
              -1.2904227511251487, -1.3688636914138659, -0.03893400217767185,
              0.17275478416174203, 0.3811031162268356, -1.274618127457035],
        "f": list("acacbaaaccaa"), "g": list("413234202203"),
        "h": [0, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1]})
    # Which degenerate corner the optimizer ends in depends on rounding (BLAS kernel, the order
    # of the setup's operations): there it is either the clear error, or a fit whose
    # likelihood is finite and which carries lme4's convergence warnings; never a returned
    # fit with a non-finite likelihood and never a silent one.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            m = mfx.glmer("y ~ x %in% f + offset(x) + log(-x) + (1 | g:h)", d, family="Gamma")
        except mfx.errors.PirlsError as exc:
            assert "no finite likelihood at the estimates with its dispersion estimated by " \
                "maximum likelihood" in str(exc)
            return
    assert np.isfinite(m.loglik) and np.isfinite(m.sigma) and np.all(np.isfinite(m.theta))
    assert m.optimizer_info["messages"]
    assert any(issubclass(w.category, mfx.ConvergenceWarning) for w in caught)


def test_ml_dispersion_degenerate_gamma_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fuzz seed 20261204's one hang (> 60 s CPU): a Gamma GLMM with the same (x + x2 | g)
    term twice (12 θ) on 20 rows of log(y) ≈ 230. At the derivatives' rounding-level PIRLS
    runs, the deviance wanders in its last digits: 30 step halvings then an error, or 100
    iterations without convergence, at each of ~450 Hessian points (268,000 PIRLS
    evaluations). lme4 accepts a step whose deviance has not risen past its tolerance after
    its halvings; mixedfx now does too, and stops a precise run once a full step gains
    nothing.
    The result is either the clear error or a finite fit (the model is degenerate). The
    evaluations are now one central Hessian over (θ, β, log φ) (480 points, the second one
    only after a kept Newton step) plus the optimizers: 19,000–56,000 PIRLS evaluations
    across OpenBLAS kernels (95,000–99,000 before the repeated Hessian was dropped)."""
    from mixedfx.glmm import pirls as pirls_module

    d = pd.DataFrame({
        "logy": [230.38768924110278, 231.56253307501044, 230.8553059695013, 229.855054929591,
                 229.7435592328916, 231.40432631133606, 229.38405293705878, 231.05349012932308,
                 228.70868583764158, 229.42731804764426, 230.93654826240925, 230.6297960251922,
                 230.00414053839364, 229.09702747002063, 230.2273058524248, 230.02660231667193,
                 230.36405118739268, 229.6813599504575, 230.121318864062, 227.85294056775714],
        "x": [0.23538091873745476, 1.5756260314314627, 0.3166450164719021, 0.5105466616976417,
              -1.4931166849642326, 2.2527291247240275, -1.9156455579583005, 1.1018018558224842,
              -0.3299040738738497, -0.8806465179277969, -0.6562850109290311,
              -0.6720146806586559, 0.3801890922489917, -0.11005869527805158,
              1.482571163033857, -1.8296040234453508, -0.0030809646658509597,
              -0.892055788321591, 0.7758718474580595, -2.118060042185068],
        "x2": [-0.3436943500994811, 0.21017292733610196, -1.4842685839963512,
               0.9852155828581877, 0.1787134291183962, 1.006856770707084, 0.9591848586745111,
               -0.9798545663746768, -0.7977957578895382, -0.20333248577190258,
               0.7479597259631346, 0.8509672909755427, -0.7096848707086849,
               -0.6071971852553313, -0.7978229151665286, -0.584238229157347,
               -0.2379233775647261, -0.13181504769026442, 2.058114468497711,
               -0.5064036597864299],
        "f": list("bbabbbbababbaabbabba"), "g": list("34424440231134203412")})
    evaluations = [0]
    evaluate = pirls_module.Pirls.evaluate

    def counted(self, *args, **kwargs):
        evaluations[0] += 1
        return evaluate(self, *args, **kwargs)

    monkeypatch.setattr(pirls_module.Pirls, "evaluate", counted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            m = mfx.glmer("logy ~ f + (x + x2 | g) + (x + x2 | g)", d, family="Gamma")
        except mfx.errors.PirlsError as exc:
            assert "no finite likelihood" in str(exc) or "PIRLS" in str(exc)
        else:
            assert np.isfinite(m.loglik) and np.all(np.isfinite(m.theta))
    assert evaluations[0] < 80_000, evaluations[0]


def test_optimizer_info_names_the_optimizer_of_each_stage(tmp_path) -> None:
    """optimizer_info reports the optimizers the two stages ran (it said 'bobyqa + bobyqa'
    whatever control chose), also after a save / load round trip."""
    d = mfx.datasets.load("cbpp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nm = mfx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", d,
                       family="binomial", control={"optimizer": "nelder_mead"})
        stage1 = mfx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", d,
                           family="binomial", nAGQ=0)
    assert nm.optimizer_info["optimizer"] == "nelder_mead + nelder_mead"
    assert stage1.optimizer_info["optimizer"] == "bobyqa"
    loaded = mfx.load(nm.save(tmp_path / "nm.npz"))
    assert loaded.optimizer_info["optimizer"] == "nelder_mead + nelder_mead"
