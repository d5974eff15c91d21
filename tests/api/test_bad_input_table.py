"""A table of named bad inputs, each refused with its exact, helpful message and a mixedfx
exception class (all subclasses of ValueError; argument-type errors are also TypeErrors)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
import mixedfx.validate
from mixedfx.errors import (
    ArgumentError,
    ArgumentTypeError,
    DataError,
    FormulaError,
    MixedfxError,
    ResourceError,
)

SL = mfx.datasets.load("sleepstudy")
CB = mfx.datasets.load("cbpp")
F = "Reaction ~ Days + (1 | Subject)"
CBF = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def _fit_lmm() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mfx.lmer(F, SL)


M = _fit_lmm()


def lmer(formula: str = F, data: Any = None, **kw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mfx.lmer(formula, SL if data is None else data, **kw)


def glmer(formula: str = CBF, data: Any = None, **kw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mfx.glmer(formula, CB if data is None else data, **kw)


def with_col(**cols: Any) -> pd.DataFrame:
    d = SL.copy()
    for k, v in cols.items():
        d[k] = v
    return d


def inf_days() -> pd.DataFrame:
    d = SL.copy()
    d.loc[3, "Days"] = np.inf
    return d


def dup_cols() -> pd.DataFrame:
    d = SL.copy()
    d.columns = ["Reaction", "Days", "Days"]
    return d


def int_cols() -> pd.DataFrame:
    d = SL.copy()
    d.columns = ["Reaction", "Days", 7]
    return d


def na_row() -> pd.DataFrame:
    d = SL.copy()
    d.loc[0, "Days"] = np.nan
    return d


def big_design() -> Any:
    old = mixedfx.validate.MAX_DESIGN_BYTES
    mixedfx.validate.MAX_DESIGN_BYTES = 1000
    try:
        return lmer()
    finally:
        mixedfx.validate.MAX_DESIGN_BYTES = old


SEP = "\n"
CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("REML as the string 'no'", lambda: lmer(REML="no"), ArgumentTypeError,
     "REML must be True or False, got 'no' (str)"),
    ("REML as R's 'FALSE'", lambda: lmer(REML="FALSE"), ArgumentTypeError,
     "REML must be True or False, got 'FALSE' (str)"),
    ("REML as an integer", lambda: lmer(REML=1), ArgumentTypeError,
     "REML must be True or False, got 1 (int)"),
    ("negative nAGQ", lambda: glmer(nAGQ=-1), ArgumentError,
     "nAGQ must be an integer >= 0, got -1"),
    ("fractional nAGQ", lambda: glmer(nAGQ=1.5), ArgumentTypeError,
     "nAGQ must be an integer >= 0, got 1.5 (float)"),
    ("unknown na_action", lambda: lmer(na_action="drop"), ArgumentError,
     "na_action must be one of 'omit', 'exclude', 'fail', got 'drop'"),
    ("confidence level given in percent", lambda: M.confint(method="Wald", level=99),
     ArgumentError, "level must be between 0 and 1 (e.g. 0.95), got 99; did you mean 0.99?"),
    ("confidence level 0", lambda: M.confint(method="Wald", level=0), ArgumentError,
     "level must be > 0 and < 1, got 0"),
    ("confidence level as a string", lambda: M.confint(method="Wald", level="0.95"),
     ArgumentTypeError, "level must be a number, got '0.95' (str)"),
    ("unknown confint method", lambda: M.confint(method="wald2"), ArgumentError,
     "confint method must be 'profile', 'Wald' or 'boot', got 'wald2' (did you mean 'Wald'?)"),
    ("confint parm naming no parameter", lambda: M.confint(method="Wald", parm=["Dayz"]),
     ArgumentError, "parm names unknown parameter(s) ['Dayz']; available: "
     "['sd_(Intercept)|Subject', 'sigma', '(Intercept)', 'Days']"),
    ("unknown keyword for Wald intervals", lambda: M.confint(method="Wald", nsim=10),
     ArgumentError, "unknown argument(s) ['nsim'] for confint(method='Wald')"),
    ("unknown keyword for lmer", lambda: lmer(reml=False), ArgumentTypeError,
     "lmer() got an unexpected keyword argument 'reml' (did you mean 'REML'?); it accepts: "
     "formula, data, REML, weights, offset, na_action, control, start, correlation, client, "
     "progress, data_name"),
    ("zero simulations", lambda: M.simulate(nsim=0), ArgumentError,
     "nsim must be an integer >= 1, got 0"),
    ("fractional simulations", lambda: M.simulate(nsim=2.0), ArgumentTypeError,
     "nsim must be an integer >= 1, got 2.0 (float)"),
    ("negative bootstrap size", lambda: M.bootstrap(nsim=-5), ArgumentError,
     "nsim must be an integer >= 1, got -5"),
    ("NaN start value", lambda: lmer(start=[np.nan]), ArgumentError,
     "start (theta) must be finite, got [nan]"),
    ("start of the wrong length", lambda: lmer(start=[1.0, 2.0]), ArgumentError,
     "start (theta) must have 1 values, got shape (2,)"),
    # lme4 refuses these too (tests/api/test_start_bounds.py, against lme4's behaviour)
    ("negative start for a standard deviation ratio", lambda: lmer(start=[-1.0]), ArgumentError,
     "start (theta) must lie within the bounds of theta, as lme4 requires: start (theta)[0] = "
     "-1 is below its lower bound 0 (the diagonal elements of each relative covariance factor, "
     "ratios of standard deviations, are >= 0); lower bounds [0.0], upper bounds [inf]"),
    ("negative start with a residual correlation structure",
     lambda: lmer(start=[-0.5, 0.2], correlation=mfx.cor_ar1("~ Days | Subject")),
     ArgumentError, "start (theta) must lie within the bounds of theta, as lme4 requires: "
     "start (theta)[0] = -0.5 is below its lower bound 0 (the diagonal elements of each "
     "relative covariance factor, ratios of standard deviations, are >= 0); lower bounds "
     "[0.0], upper bounds [inf]"),
    ("negative glmer theta start", lambda: glmer(start={"theta": [-1.0]}), ArgumentError,
     "start['theta'] must lie within the bounds of theta, as lme4 requires: start['theta'][0] "
     "= -1 is below its lower bound 0 (the diagonal elements of each relative covariance "
     "factor, ratios of standard deviations, are >= 0); lower bounds [0.0], upper bounds "
     "[inf]"),
    ("glmer start not a dict", lambda: glmer(start=[1.0]), ArgumentTypeError,
     "glmer start must be a dict such as {'theta': [...]}, got list"),
    ("glmer start with unknown part", lambda: glmer(start={"beta": [0.0]}), ArgumentError,
     "unknown start component(s) ['beta']; glmer accepts {'theta': [...]} and, with it, "
     "'fixef': [...]"),
    ("glmer start fixef without theta", lambda: glmer(start={"fixef": [0.0]}), ArgumentError,
     "glmer start 'fixef' needs 'theta' too and nAGQ >= 1 (with nAGQ=0 the fixed effects "
     "are estimated inside PIRLS)"),
    ("unknown optimizer", lambda: lmer(control={"optimizer": "lbfgs"}), ValueError,
     "unknown optimizer 'lbfgs'; choose one of bobyqa, nelder_mead, cobyla, sbplx"),
    ("zero evaluation budget", lambda: lmer(control={"maxeval": 0}), ValueError,
     "control maxeval must be a positive integer, got 0"),
    ("negative time budget", lambda: lmer(control={"max_time": -1}), ValueError,
     "control max_time must be a positive number of seconds or None, got -1"),
    ("NaN tolerance", lambda: lmer(control={"xtol_abs": float("nan")}), ValueError,
     "control xtol_abs must be a finite number >= 0, got nan"),
    ("misspelt family", lambda: glmer(family="binomal"), ArgumentError,
     "unknown family 'binomal' (did you mean 'binomial'?); available: binomial, poisson, "
     "Gamma, inverse_gaussian, gaussian (and families.negative_binomial(theta))"),
    ("misspelt link", lambda: glmer(link="logt"), ArgumentError,
     "unknown link 'logt' (did you mean 'logit'?); available links: logit, probit, cauchit, "
     "cloglog, identity, log, sqrt, inverse, 1/mu^2"),
    ("link of another family", lambda: glmer("incidence ~ period + (1 | herd)",
                                             family="poisson", link="logit"), ValueError,
     "link 'logit' is not available for the poisson family; use one of log, sqrt, identity"),
    ("negative NB shape", lambda: mfx.families.negative_binomial(-1), ValueError,
     "negative binomial theta must be positive and finite, got -1"),
    ("Gaussian identity GLMM", lambda: glmer("Reaction ~ Days + (1 | Subject)", SL,
                                             family="gaussian"), ValueError,
     "family gaussian with identity link is a linear mixed model: use mixedfx.lmer"),
    ("glmer_nb negative tolerance", lambda: mfx.glmer_nb("incidence ~ period + (1 | herd)",
                                                         CB, tol=-1), ArgumentError,
     "tol must be > 0, got -1"),
    ("formula without ~", lambda: lmer("Reaction + Days"), FormulaError,
     "missing '~' in formula (expected 'response ~ terms')" + SEP + "  Reaction + Days"
     + SEP + "  ^^^^^^^^^^^^^^^"),
    # a long formula is shown as a 200-character window starting 80 characters before the
    # problem, with the caret under it
    ("formula nested too deeply", lambda: lmer("Reaction ~ " + "(" * 101 + "Days" + ")" * 101
                                               + " + (1 | Subject)"), FormulaError,
     "formula too deeply nested: more than 100 levels of parentheses" + SEP + "  "
     + "(" * 81 + "Days" + ")" * 101 + " + (1 | Subjec" + SEP + "  " + " " * 80 + "^"),
    ("formula with too many terms", lambda: lmer("Reaction ~ " + " + ".join(["Days"] * 401)
                                                 + " + (1 | Subject)"), FormulaError,
     # operator 401 is the '+' before (1 | Subject), at 11 + 401 * 7 - 2 = 2816
     "formula too long: 402 operators (the limit is 400); build the model matrix in fewer "
     "terms, e.g. with a factor or poly()" + SEP + "  "
     + ("Reaction ~ " + " + ".join(["Days"] * 401) + " + (1 | Subject)")[2736:2936] + SEP
     + "  " + " " * 80 + "^"),
    ("interaction expanding past the term limit",
     lambda: lmer("Reaction ~ " + "*".join(f"x{i}" for i in range(12)) + " + (1 | Subject)",
                  with_col(**{f"x{i}": np.arange(180.0) % (i + 2) for i in range(12)})),
     FormulaError, "formula too long: '*' here would expand to more than 2,000 terms "
     "(2047 x 1)" + SEP + "  Reaction ~ x0*x1*x2*x3*x4*x5*x6*x7*x8*x9*x10*x11 + (1 | Subject)"
     + SEP + "             " + "^" * 37),
    ("unknown column", lambda: lmer("Reaction ~ Dayz + (1 | Subject)"), FormulaError,
     "unknown variable 'Dayz' in formula; available columns: Reaction, Days, Subject (did you "
     "mean 'Days'?)" + SEP + "  Reaction ~ Dayz + (1 | Subject)" + SEP + "             ^^^^"),
    ("formula not a string", lambda: lmer(42), TypeError,
     "formula must be a string such as 'y ~ x + (1 | g)'"),
    ("no random effects", lambda: lmer("Reaction ~ Days"), FormulaError,
     "formula 'Reaction ~ Days' has no random-effects term: add one such as (1 | group) "
     "(lme4: 'No random effects terms specified in formula'); for a model without random "
     "effects use mixedfx.lm, mixedfx.glm or mixedfx.gls"),
    ("log of zero in a predictor", lambda: lmer("Reaction ~ log(Days) + (1 | Subject)"),
     DataError, "the fixed-effects model matrix has non-finite values (NaN/Inf) in column "
     "'log(Days)' for 18 row(s), e.g. log() of a zero or division by zero; lme4 stops with "
     "'NA/NaN/Inf in foreign function call'. Remove those rows or change the transformation"),
    ("1/x of zero in a random slope", lambda: lmer("Reaction ~ 1 + (I(1/Days) | Subject)"),
     DataError, "the random-effects model matrix of (I(1/Days) | Subject) has non-finite "
     "values (NaN/Inf) in column 'I(1/Days)' for 18 row(s), e.g. log() of a zero or division "
     "by zero; lme4 stops with 'NA/NaN/Inf in foreign function call'. Remove those rows or "
     "change the transformation"),
    ("infinite predictor value", lambda: lmer(data=inf_days()), DataError,
     "column 'Days' has 1 infinite value(s) (rows 3); remove or recode them (NaN / None are "
     "treated as missing)"),
    ("duplicated column names", lambda: lmer(data=dup_cols()), DataError,
     "column name 'Days' duplicated in data; column names must be unique"),
    ("non-string column name", lambda: lmer(data=int_cols()), DataError,
     "data column names must be strings, got 7 (int); rename the columns, e.g. data.columns = "
     "[f'x{i}' for i in data.columns]"),
    ("column of dicts", lambda: lmer("Reaction ~ o + (1 | Subject)",
                                     with_col(o=[{"a": 1}] * 180)), DataError,
     "column 'o' holds dict values; model columns must hold numbers, strings, booleans or "
     "categories"),
    ("grouping column of lists", lambda: lmer("Reaction ~ Days + (1 | o)",
                                              with_col(o=[[1, 2]] * 180)), DataError,
     "column 'o' holds list values; model columns must hold numbers, strings, booleans or "
     "categories"),
    ("datetime used as a number", lambda: lmer("Reaction ~ t + (1 | Subject)", with_col(
        t=pd.date_range("2020-01-01", periods=180).astype("datetime64[ns]"))), DataError,
     "column 't' is a datetime64[ns] column and cannot be used as a number; convert it, e.g. "
     "(t - t.min()).dt.days, or to a factor"),
    ("empty data frame", lambda: lmer(data=SL.iloc[:0]), DataError, "data has no rows"),
    ("data not a frame", lambda: lmer(data=[1, 2, 3]), TypeError,
     "data must be a pandas DataFrame (or polars / Arrow / __dataframe__ object), got list"),
    ("every row missing", lambda: lmer(data=with_col(Days=np.nan)), DataError,
     "no observations left after removing rows with missing values"),
    ("missing value with na_action='fail'", lambda: lmer(data=na_row(), na_action="fail"),
     DataError, "missing values in 1 row(s) of the model's variables (column(s) 'Days') with "
     "na_action='fail'; drop them or use na_action='omit' / 'exclude'"),
    ("cbind response in lmer", lambda: lmer("cbind(Reaction, Days) ~ 1 + (1 | Subject)"),
     DataError, "response 'cbind(Reaction, Days)' has 2 columns: a cbind() response is for "
     "binomial models (mixedfx.glmer); lmer needs one numeric response"),
    ("constant response", lambda: lmer(data=with_col(Reaction=5.0)), DataError,
     "response 'Reaction' is constant (every value is 5): the residual variance would be 0 "
     "and the log-likelihood infinite"),
    ("zero weight in lmer", lambda: lmer(weights=np.r_[0.0, np.ones(179)]), DataError,
     "weights must be positive for lmer (1 zero weight(s)); drop those rows instead (lme4 "
     "returns a -Inf log-likelihood)"),
    ("negative weight", lambda: lmer(weights=np.r_[-1.0, np.ones(179)]), DataError,
     "weights must be non-negative and finite"),
    ("weights of the wrong length", lambda: lmer(weights=[1.0, 2.0, 3.0]), ValueError,
     "weights must have one value per row of data (180), got shape (3,)"),
    ("single-level grouping factor", lambda: lmer(data=with_col(Subject="a")), DataError,
     "grouping factors must have > 1 sampled level (problems: Subject): a random effect needs "
     "at least two groups; drop the term or use mixedfx.lm"),
    ("one observation per level in lmer", lambda: lmer("Reaction ~ Days + (1 | id)",
                                                       with_col(id=np.arange(180))),
     DataError, "number of levels of each grouping factor must be < number of observations "
     "(problems: id): with one observation per level the random effect cannot be told apart "
     "from the residual"),
    ("binomial response above 1", lambda: glmer("Reaction ~ Days + (1 | Subject)", SL),
     DataError, "binomial response 'Reaction' has values outside [0, 1] (180 value(s), e.g. "
     "249.56); give 0/1 values, proportions with weights= giving the trials, a two-level "
     "factor or cbind(successes, failures)"),
    ("glmer with fewer observations than random effects",
     lambda: glmer("y ~ 1 + (x | g)", pd.DataFrame({"y": [0, 1, 0, 1, 1], "x": np.arange(5.0),
                                                    "g": ["a", "b", "c", "a", "b"]})),
     DataError, "number of observations (=5) < number of random effects (=6) for term "
     "((Intercept) + x | g); the random-effects parameters are probably unidentifiable"),
    ("design above the memory limit", big_design, ResourceError,
     "the model matrix of '~ Days' would be a dense 180 x 2 array of 2.8 KiB, above the limit "
     "of 1000 bytes (mixedfx.validate.MAX_DESIGN_BYTES); simplify the model (fewer "
     "interactions or factor levels) or raise the limit"),
    ("data as a dict of scalars", lambda: mfx.lm("Reaction ~ Days", {"Reaction": 1, "Days": 2}),
     DataError, "data given as a dict must map column names to equal-length columns (If using "
     "all scalar values, you must pass an index)"),
    ("data as a single Series", lambda: lmer(data=SL["Reaction"]), ArgumentTypeError,
     "data must be a data frame holding the model's columns, got a single column (pandas "
     "Series); pass a frame (e.g. series.to_frame())"),
    ("na_action as a frame (lm)", lambda: mfx.lm("Reaction ~ Days", SL, na_action=SL.head(1)),
     ArgumentTypeError, "lm(): na_action must be a string, got a pandas DataFrame"),
    ("na_action as a list (gls)", lambda: mfx.gls("Reaction ~ Days", SL, na_action=["omit"]),
     ArgumentTypeError, "gls(): na_action must be a string, got a list"),
    ("residual type given a frame", lambda: M.residuals(SL), ArgumentTypeError,
     "LinearMixedModel.residuals(): type must be a string, got a pandas DataFrame"),
    ("ddf as a number", lambda: M.anova(ddf=1), ArgumentTypeError,
     "ddf must be one of 'Satterthwaite', 'Kenward-Roger' (or 'none' in summary), got 1"),
    ("drop1 test as None", lambda: M.drop1(test=None), ArgumentError,
     "test must be 'F' or 'Chisq', got None"),
    ("is_singular tol as None", lambda: M.is_singular(tol=None), ArgumentTypeError,
     "tol must be a number, got None (NoneType)"),
    ("simulate beyond the memory limit", lambda: M.simulate(nsim=10**12), ResourceError,
     "the simulate(nsim=1000000000000)'s result would be a dense 180 x 1,000,000,000,000 "
     "array of 1309.7 TiB, above the limit of 4.0 GiB (mixedfx.validate.MAX_DESIGN_BYTES); "
     "simulate in smaller batches of nsim or raise the limit"),
    ("simulate use_u as a string", lambda: M.simulate(use_u="yes"), ArgumentTypeError,
     "use_u must be True or False, got 'yes' (str)"),
    ("bootstrap with an unknown keyword", lambda: M.bootstrap(nsim=2, type="parametric"),
     ArgumentTypeError, "bootstrap() got an unexpected keyword argument 'type'; it accepts: "
     "func, nsim, seed, n_jobs, use_u"),
    ("profile alphamax as a string", lambda: M.profile(alphamax="a"), ArgumentTypeError,
     "alphamax must be a number, got 'a' (str)"),
    ("profile with no points", lambda: M.profile(maxpts=0), ArgumentError,
     "maxpts must be an integer >= 1, got 0"),
    ("lm predict level None", lambda: mfx.lm("Reaction ~ Days", SL).predict(level=None),
     ArgumentTypeError, "level must be a number, got None (NoneType)"),
    ("tidy effects None", lambda: M.tidy(effects=None), ArgumentTypeError,
     "effects must be one of 'fixed', 'ran_pars', 'ran_vals', 'ran_coefs' or a list of them, "
     "got None"),
    ("varcorr_table digits None", lambda: M.varcorr_table(digits=None), ArgumentTypeError,
     "digits must be an integer >= 1, got None (NoneType)"),
    ("emmeans of no model", lambda: mfx.emmeans(None, "Days"), ArgumentTypeError,
     "model must be a fitted mixedfx model (lmer, glmer, gls, lm, glm, ...), got NoneType"),
    ("emmeans at as a number", lambda: mfx.emmeans(M, "Days", at=3), ArgumentTypeError,
     "at must be a dict of predictor values such as {'x': [1, 2]}, got int"),
    ("effect focal None", lambda: mfx.effect(M, None), ArgumentTypeError,
     "effect: the focal predictors must be a name such as 'x' or 'x:group', or a list of "
     "names, got NoneType"),
    ("binomial factor response holding 1 and '1'",
     lambda: glmer("o ~ period + (1 | herd)", CB.assign(o=pd.Series([1, "1"] * 28, dtype=object))),
     DataError, "column 'o' holds 1 (int) and '1' (str), which would become the same factor "
     "level '1'; convert the column to one type first, e.g. data['o'].astype(str)"),
    ("Control with lme4's maxfun", lambda: mfx.Control(maxfun=10), ArgumentTypeError,
     "Control() got an unexpected keyword argument 'maxfun'; it accepts: optimizer, xtol_abs, "
     "ftol_abs, maxeval, restart_edge, restart_singular, boundary_tol, calc_derivs, "
     "check_conv_grad_tol, check_conv_hess_tol, check_singular_tol, check_conv, "
     "glmm_xtol_abs, presolve, presolve_min_block, polish, max_time, warm_step"),
    ("cor_ar1 given a value and form", lambda: mfx.cor_ar1(0.5, form="~ 1 | Subject"),
     ArgumentTypeError, "cor_ar1(): multiple values for argument 'form'; it accepts: form"),
    ("var_ident with an unknown keyword", lambda: mfx.var_ident(fixed=1), ArgumentTypeError,
     "var_ident() got an unexpected keyword argument 'fixed'; it accepts: form"),
    ("datasets.load with an unknown keyword", lambda: mfx.datasets.load("cbpp", cache=False),
     ArgumentTypeError, "load() got an unexpected keyword argument 'cache'; it accepts: name"),
    ("influence maxfun beyond the optimizer's range", lambda: M.influence(maxfun=10**12),
     ArgumentError, "maxfun must be an integer from 1 to 2147483647 (the optimizer's "
     "evaluation limit per refit), got 1000000000000"),
]


def test_table_is_large_and_names_are_unique() -> None:
    names = [c[0] for c in CASES]
    assert len(names) >= 40
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(("name", "call", "cls", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_message(name: str, call: Callable[[], Any], cls: type[Exception],
                           message: str) -> None:
    with pytest.raises(cls) as info:
        call()
    assert str(info.value) == message
    assert isinstance(info.value, ValueError | TypeError)
    # everything mixedfx refuses on purpose can be caught as one family
    assert isinstance(info.value, MixedfxError)
