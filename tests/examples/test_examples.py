"""Run every script in examples/ and check the numbers it prints against R's (the reference
JSON files of tests/reference/extra, made by the R scripts beside them)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import runpy
from pathlib import Path

import numpy as np

ROOT = Path(__file__).parents[2]
EXTRA = ROOT / "tests" / "reference" / "extra"


def load(name: str) -> dict:
    return json.loads((EXTRA / name).read_text())


def run(script: str) -> dict[str, list[float]]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        runpy.run_path(str(ROOT / "examples" / script), run_name="__main__")
    out: dict[str, list[float]] = {}
    for line in buf.getvalue().splitlines():
        m = re.match(r"^([a-zA-Z][\w =.-]*): (.*)$", line)
        if m:
            nums = re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", m.group(2))
            if nums:
                out[m.group(1)] = [float(x) for x in nums]
    return out


def test_lm_to_lmer_walkthrough():
    got = run("lm_to_lmer.py")
    base, tidy, eff = load("baseline.json"), load("tidy.json"), load("effects.json")
    lm = base["lm_simple"]
    expect = {
        "lm slope": [lm["coef"]["Days"][0]],
        "lm slope SE": [lm["coefmat"]["Std. Error"][1]],
        "lm sigma": lm["sigma"],
        "lmer slope": [tidy["lmm_tidy_wald"]["estimate"][1]],
        "lmer slope SE": [tidy["lmm_tidy_wald"]["std.error"][1]],
        "lmer slope df": [tidy["lmm_tidy_wald"]["df"][1]],
        "LRT chisq": [base["anova_lmer_lm"]["Chisq"][1]],
        "AIC slopes": [tidy["aic_table"]["AIC"][1]],
        "first cooksd": [tidy["lmm_augment"][".cooksd"][0]],
        "effect at Days=9": [eff["eff_slope_model"][k][-1] for k in ("fit", "lower", "upper")],
    }
    for key, vals in expect.items():
        assert key in got, key
        np.testing.assert_allclose(got[key][-len(vals):], vals, rtol=2e-6, atol=1e-4,
                                   err_msg=key)


def test_glmm_cbpp_walkthrough():
    got = run("glmm_cbpp.py")
    base, tidy, conv = load("baseline.json"), load("tidy.json"), load("conveniences.json")
    expect = {                      # GLMM values: our Laplace optimum is slightly above lme4's
        "glm AIC": ([base["glm_binomial"]["aic"][0]], 1e-8),
        "glmer AIC": (tidy["glmm_glance"]["AIC"], 1e-5),
        "odds ratio period2": ([tidy["glmm_tidy_exp"]["estimate"][1]], 3e-3),
        "ICC adjusted": ([conv["icc_glmm"]["ICC_adjusted"]], 3e-3),
    }
    for key, (vals, rtol) in expect.items():
        np.testing.assert_allclose(got[key], vals, rtol=rtol, err_msg=key)


def test_crossed_nested_walkthrough():
    got = run("crossed_nested.py")
    e = load("examples.json")
    expect = {
        "Penicillin REML criterion": [e["penicillin_reml"]],
        "Penicillin SDs": e["penicillin_sd"],
        "Pastes LRT chisq": [e["pastes_lrt_chisq"]],
        "Pastes AIC": e["pastes_aic"],
        "Pastes cask-only REML criterion": [e["pastes_sample_only_reml"]],
    }
    for key, vals in expect.items():       # printed to 5-6 decimals; lme4 optimum 1e-4 flat
        np.testing.assert_allclose(got[key], vals, rtol=2e-4, atol=2e-6, err_msg=key)


def test_explore_fitted_model_walkthrough():
    got = run("explore_fitted_model.py")
    e = load("examples2.json")
    expect = {                              # deterministic numbers: R's to print precision
        "fixef": e["fixef"],
        "ranef 308": e["ranef_308"],
        "condsd 308": e["condsd_308"],
        "intercept range": e["ranef_int_range"],
        "ICC adjusted and conditional": e["icc"],
        "R2 marginal and conditional": e["r2"],
        "RLRT": [e["rlrt"]],
        "what-if 308": [e["whatif_308"]],
        "what-if range": e["whatif_range"],
        "what-if population": [e["whatif_population"]],
    }
    for key, vals in expect.items():
        np.testing.assert_allclose(got[key], vals, rtol=2e-6, atol=2e-6, err_msg=key)
    # simulation-based numbers: merTools' REsim and RLRsim's p-value are random in R too, so
    # only agreement within Monte Carlo error (2000 draws: SE of a mean ≈ sd / 45)
    np.testing.assert_allclose(got["REsim 308 mean"], e["resim_308_mean"], atol=1.5)
    np.testing.assert_allclose(got["REsim 308 sd"], e["resim_308_sd"], rtol=0.1)
    assert got["RLRT p-value"] == [e["rlrt_p"]]


def test_hsb_introduction_walkthrough():
    got = run("hsb_introduction.py")
    e = load("examples2.json")
    expect = {
        "REML fit": e["hsb_reml"],
        "ML fit": e["hsb_ml"],
        "intercept SE REML and ML": e["hsb_se"],
        "ICC": [e["hsb_icc"]] * 2,
        "smallest school": e["hsb_smallest"],
        "lambda range": e["hsb_lambda_range"],
        "SD of raw and conditional means": [e["hsb_raw_sd"], e["hsb_cond_sd"]],
    }
    for key, vals in expect.items():      # the lme4 optimum is flat to ~1e-6 relative
        np.testing.assert_allclose(got[key], vals, rtol=1e-5, atol=1e-5, err_msg=key)
    # the bootstrap (100 draws) is random: the interval must hold R's estimate and be about
    # as wide as the Wald interval ±1.96·SE (R's SE 0.2444 → width 0.958)
    lo, hi = got["bootstrap CI of the mean"]
    assert lo < e["hsb_reml"][0] < hi
    assert 0.6 < (hi - lo) / (2 * 1.959964 * e["hsb_se"][0]) < 1.4


CHECKED = {"random_slopes.py", "residual_structures.py", "lm_to_lmer.py", "glmm_cbpp.py",
           "crossed_nested.py", "explore_fitted_model.py", "hsb_introduction.py"}


def test_random_slopes_walkthrough():
    """Biomass simulation (tutorial numbers in tests/reference/biomass_sim_reml.json)."""
    got = run("random_slopes.py")
    ref = json.loads((ROOT / "tests" / "reference" / "biomass_sim_reml.json").read_text())
    e = ref["expected"]
    assert got["REML criterion"] == [round(e["reml_criterion"], 6)] or np.isclose(
        got["REML criterion"][0], e["reml_criterion"], atol=1e-5)
    np.testing.assert_allclose(got["fixed effects"], list(e["fixef"].values()), rtol=1e-5)
    np.testing.assert_allclose(got["variance components"], [r["vcov"] for r in e["varcorr"]],
                               rtol=1e-3)
    np.testing.assert_allclose(got["Wald lower"], e["confint_wald"]["lower"], rtol=1e-5)
    np.testing.assert_allclose(got["Wald upper"], e["confint_wald"]["upper"], rtol=1e-5)
    np.testing.assert_allclose(got["profile lower"], e["confint_profile"]["lower"], rtol=1e-3)
    np.testing.assert_allclose(got["profile upper"], e["confint_profile"]["upper"], rtol=1e-3)
    lo, hi = got["bootstrap Temp interval"]
    wl, wu = e["confint_wald"]["lower"][1], e["confint_wald"]["upper"][1]
    # a parametric bootstrap interval: contains the estimate, about as wide as Wald's
    assert lo < e["fixef"]["Temp"] < hi
    assert 0.6 < (hi - lo) / (wu - wl) < 1.4


def test_residual_structures_walkthrough():
    """gpa: varIdent and AR(1) against nlme (tests/reference/extra/nlme/)."""
    got = run("residual_structures.py")
    ref = {c["id"]: c for c in json.loads(
        (EXTRA / "nlme" / "nlme_structures.json").read_text())["cases"]}
    vi, ar = ref["gpa_lme_varident_reml"], ref["gpa_lme_ar1_reml"]
    np.testing.assert_allclose(got["varIdent variances"],
                               list(vi["structures"]["varStruct"]["stratum_var"].values()),
                               rtol=1e-3)
    np.testing.assert_allclose(got["AR1 Phi"], [ar["structures"]["corStruct"]["coef"]["Phi"]],
                               rtol=1e-3)
    np.testing.assert_allclose(got["logLik"], [vi["loglik"], ar["loglik"]], atol=1e-3)
    np.testing.assert_allclose(got["MMRM logLik"], [ref["orthodont_gls_mmrm_reml"]["loglik"]],
                               atol=1e-3)
    ml = [ref["gpa_lme_varident_ml"]["aic"], ref["gpa_lme_ar1_ml"]["aic"]]
    np.testing.assert_allclose(got["ML AIC varIdent AR1"], ml, atol=2e-3)


def test_every_example_is_checked():
    assert {p.name for p in (ROOT / "examples").glob("*.py")} == CHECKED


def test_examples_run_from_an_installed_copy():
    """No example reads files of the source checkout (tests/, the repository root): their
    data come from mixedfx.datasets, so they run wherever mixedfx is installed."""
    import ast

    for path in (ROOT / "examples").glob("*.py"):
        tree = ast.parse(path.read_text())
        doc = ast.get_docstring(tree, clean=False)
        strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
                   and isinstance(n.value, str) and n.value != doc]
        assert not [s for s in strings if "tests" in s or "reference" in s], path.name
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.Name)
                    and n.id == "__file__"], path.name
