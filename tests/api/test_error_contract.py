"""The error contract (issue 19): every error caused by the user's input is a `MixedfxError`
whose message names the offending argument, column or field. Each case below is one bad input
and the name its message must contain; a second table holds odd inputs that once escaped as
foreign exceptions (TypeError from Python's call machinery, AttributeError, numpy's errors)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.errors import MixedfxError, NewLevelError

SL = mfx.datasets.load("sleepstudy")
CB = mfx.datasets.load("cbpp")
F = "Reaction ~ Days + (1 | Subject)"


def _quiet(call: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


M = _quiet(lambda: mfx.lmer(F, SL))
G = _quiet(lambda: mfx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", CB,
                             family="binomial"))


def with_col(**cols: Any) -> pd.DataFrame:
    d = SL.copy()
    for k, v in cols.items():
        d[k] = v
    return d


def counts(values: Any) -> pd.DataFrame:
    return with_col(y=values)


# (case, call, text the message must contain)
ISSUE_CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("unknown family with a suggestion",
     lambda: mfx.glmer("incidence ~ period + (1 | herd)", CB, family="poison"),
     "did you mean 'poisson'"),
    ("unknown link with a suggestion",
     lambda: mfx.glmer("incidence ~ period + (1 | herd)", CB, family="poisson", link="lgo"),
     "did you mean 'log'"),
    ("unknown link of a family object", lambda: mfx.families.Gamma(link="lg"), "'lg'"),
    ("lmer formula without a random term", lambda: mfx.lmer("Reaction ~ Days", SL),
     "no random-effects term"),
    ("glmer formula without a random term",
     lambda: mfx.glmer("incidence ~ period", CB, family="poisson"), "no random-effects term"),
    ("non-numeric response", lambda: mfx.lmer("s ~ Days + (1 | Subject)", with_col(s="a")),
     "response 's'"),
    ("binomial response outside [0, 1]",
     lambda: mfx.glmer(F, SL, family="binomial"), "response 'Reaction'"),
    ("negative cbind counts",
     lambda: mfx.glmer("cbind(incidence, incidence - size) ~ period + (1 | herd)", CB,
                       family="binomial"), "negative failures"),
    ("3-level factor response",
     lambda: mfx.glmer("f ~ Days + (1 | Subject)",
                       with_col(f=np.array(["a", "b", "c"])[np.arange(180) % 3]),
                       family="binomial"), "factor response 'f'"),
    ("non-integer Poisson counts",
     lambda: mfx.glmer("y ~ Days + (1 | Subject)", counts(np.arange(180) % 5 + 0.5),
                       family="poisson"), "response 'y' has non-integer values"),
    ("negative Poisson counts",
     lambda: mfx.glmer("y ~ Days + (1 | Subject)", counts(np.arange(180) % 5 - 1),
                       family="poisson"), "response 'y' has negative values"),
    ("Gamma response <= 0",
     lambda: mfx.glmer("y ~ Days + (1 | Subject)", counts(np.arange(180) % 5 * 1.0),
                       family="Gamma"), "the Gamma family needs a response > 0"),
    ("inverse Gaussian response <= 0",
     lambda: mfx.glmer("y ~ Days + (1 | Subject)", counts(np.arange(180) % 5 * 1.0),
                       family="inverse_gaussian"), "inverse_gaussian"),
    ("one group", lambda: mfx.lmer("Reaction ~ Days + (1 | g)", with_col(g="a")),
     "problems: g"),
    ("one observation per group (lme4's check.nobs.vs.nlev)",
     lambda: mfx.lmer("Reaction ~ Days + (1 | g)", with_col(g=np.arange(180))), "problems: g"),
    ("na_action='fail' with a missing value",
     lambda: mfx.lmer(F, with_col(Days=[np.nan, *[1.0] * 179]), na_action="fail"),
     "column(s) 'Days'"),
    ("predict with a new level", lambda: M.predict(pd.DataFrame({"Days": [1.0],
                                                                 "Subject": ["zzz"]})),
     "'zzz'"),
    ("predict without a fixed-effect column", lambda: M.predict(pd.DataFrame(
        {"Subject": ["308"]})), "'Days'"),
    ("predict without the grouping column", lambda: M.predict(pd.DataFrame({"Days": [1.0]})),
     "'Subject'"),
    ("missing value in a grouping column of newdata",
     lambda: M.predict(pd.DataFrame({"Days": [1.0, 2.0], "Subject": ["308", None]})),
     "missing values in grouping column(s) ['Subject']"),
    ("bad confint method", lambda: M.confint(method="wald2"), "did you mean 'Wald'"),
    ("unknown dataset", lambda: mfx.datasets.load("sleeptudy"), "did you mean 'sleepstudy'"),
    ("glmer_nb with non-integer counts",
     lambda: mfx.glmer_nb("y ~ Days + (1 | Subject)", counts(np.arange(180) % 5 + 0.5)),
     "glmer_nb"),
    ("re_form typo", lambda: M.predict(re_form="~(1 | Subjct)"), "did you mean 'Subject'"),
    ("nAGQ beyond lme4's Gauss-Hermite rules", lambda: mfx.glmer(
        "incidence ~ period + (1 | herd)", CB, family="poisson", nAGQ=10**5), "nAGQ"),
    ("overflowing quadrature nAGQ=1000", lambda: mfx.glmer(
        "incidence ~ period + (1 | herd)", CB, family="poisson", nAGQ=1000),
     "more overflow the quadrature weights"),
    ("nAGQ > 1 with two terms", lambda: mfx.glmer(
        "incidence ~ period + (1 | herd) + (1 | period)", CB, family="poisson", nAGQ=5),
     "nAGQ=5"),
]

# odd inputs found by a sweep: (case, call, name in the message)
SWEEP_CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("empty frame", lambda: mfx.lmer(F, SL.iloc[:0]), "no rows"),
    ("all-NaN predictor", lambda: mfx.lmer("Reaction ~ x + (1 | Subject)", with_col(x=np.nan)),
     "no observations left"),
    ("infinite response", lambda: mfx.lmer(F, with_col(Reaction=[np.inf, *SL.Reaction[1:]])),
     "'Reaction'"),
    ("datetime predictor", lambda: mfx.lmer("Reaction ~ t + (1 | Subject)", with_col(
        t=pd.date_range("2020", periods=180))), "'t'"),
    ("duplicate column names", lambda: mfx.lmer(F, SL.set_axis(["Reaction", "Days", "Days"],
                                                             axis=1)), "'Days'"),
    ("formula with a missing column", lambda: mfx.lmer("Reaction ~ zz + (1 | Subject)", SL),
     "'zz'"),
    ("complex predictor", lambda: mfx.lmer("Reaction ~ z + (1 | Subject)",
                                           with_col(z=np.arange(180) + 1j)), "'z'"),
    ("1 and '1' in one grouping column", lambda: mfx.lmer(
        "Reaction ~ Days + (1 | g)", with_col(g=np.array([1, "1", 2, "2", 3, "3"] * 30,
                                                         dtype=object))), "'g'"),
    ("string weights", lambda: mfx.lmer(F, with_col(w=["1.5"] * 180), weights="w"),
     "weights"),
    ("complex weights", lambda: mfx.lmer(F, SL, weights=np.ones(180) + 1j), "weights"),
    ("unknown keyword to lmer", lambda: mfx.lmer(F, SL, reml=False), "did you mean 'REML'"),
    ("unknown keyword to glmer", lambda: mfx.glmer(F, SL, familly="poisson"),
     "did you mean 'family'"),
    ("unknown keyword to glmer_nb", lambda: mfx.glmer_nb(F, SL, foo=1), "'foo'"),
    ("unknown keyword to gls", lambda: mfx.gls("Reaction ~ Days", SL, method="ML"),
     "'method'"),
    ("unknown keyword to lm", lambda: mfx.lm("Reaction ~ Days", SL, REML=True), "'REML'"),
    ("unknown keyword to predict", lambda: M.predict(new_data=SL), "did you mean 'newdata'"),
    ("unknown keyword to a GLMM's predict", lambda: G.predict(typ="response"),
     "did you mean 'type'"),
    ("unknown keyword to Wald confint", lambda: M.confint(method="Wald", nsim=10), "'nsim'"),
    ("unknown keyword to profile confint", lambda: M.confint(foo=1), "'foo'"),
    ("unknown keyword to boot confint", lambda: M.confint(method="boot", nsims=5),
     "did you mean 'nsim'"),
    ("unknown keyword to summary", lambda: M.summary(ddf_method="KR"), "'ddf_method'"),
    ("unknown keyword to fitted", lambda: M.fitted(type="response"), "'type'"),
    ("unknown keyword to residuals", lambda: M.residuals(kind="pearson"), "'kind'"),
    ("positional argument to hatvalues", lambda: M.hatvalues(1), "hatvalues"),
    ("unknown keyword to ranef", lambda: M.ranef(condVar=True), "did you mean 'condvar'"),
    ("non-bool condvar", lambda: M.ranef(condvar="yes"), "condvar"),
    ("non-bool allow_new_levels", lambda: M.predict(allow_new_levels="yes"),
     "allow_new_levels"),
    ("string seed", lambda: M.simulate(seed="a"), "seed"),
    ("anova of a number", lambda: mfx.anova(M, 3), "argument 2"),
    ("family of the wrong type", lambda: mfx.glmer(F, SL, family=3), "family"),
    ("link of the wrong type", lambda: mfx.families.binomial(link=["logit"]), "link"),
    ("data that is a list", lambda: mfx.lmer(F, [1, 2, 3]), "data"),
    ("re_form of the wrong type", lambda: M.predict(re_form=1), "re_form"),
    ("na_action typo", lambda: mfx.lmer(F, SL, na_action="exlude"),
     "did you mean 'exclude'"),
    ("unknown residual type", lambda: M.residuals(type="raw"), "type"),
    ("unknown effect type in tidy", lambda: M.tidy(effects="foo"), "'foo'"),
    ("non-bool conf_int in tidy", lambda: M.tidy(conf_int="yes"), "conf_int"),
    ("emmeans specs of the wrong type", lambda: mfx.emmeans(M, 3), "specs"),
    ("refit with strings", lambda: M.refit(["a"] * 180), "new response"),
]


@pytest.mark.parametrize(("case", "call", "name"), ISSUE_CASES + SWEEP_CASES,
                         ids=[c[0] for c in ISSUE_CASES + SWEEP_CASES])
def test_bad_input_raises_mixedfx_error_naming_it(case: str, call: Callable[[], Any],
                                                  name: str) -> None:
    with pytest.raises(MixedfxError) as info:
        _quiet(call)
    assert name in str(info.value), str(info.value)


def test_new_levels_are_new_level_errors() -> None:
    with pytest.raises(NewLevelError, match="allow_new_levels=True"):
        M.predict(pd.DataFrame({"Days": [1.0], "Subject": ["zzz"]}))
    m = _quiet(lambda: mfx.lmer("Reaction ~ f + (1 | Subject)",
                                with_col(f=np.array(["a", "b"])[np.arange(180) % 2])))
    with pytest.raises(NewLevelError, match=r"factor 'f' has new level\(s\) \['c'\]"):
        m.predict(pd.DataFrame({"f": ["c"], "Subject": ["308"]}))


def test_missing_grouping_value_is_not_reported_as_a_level_none() -> None:
    with pytest.raises(MixedfxError) as info:
        M.predict(pd.DataFrame({"Days": [1.0], "Subject": [np.nan]}))
    assert "None" not in str(info.value) and "nan" not in str(info.value)
    # allowed: the row is predicted at the population level, as lme4 does
    p = M.predict(pd.DataFrame({"Days": [1.0], "Subject": [None]}), allow_new_levels=True)
    assert p.iloc[0] == pytest.approx(M.fixef["(Intercept)"] + M.fixef["Days"])


def test_re_form_typo_shows_no_internal_names() -> None:
    with pytest.raises(mfx.FormulaError) as info:
        M.predict(re_form="~(Dayz | Subject)")
    text = str(info.value)
    assert "re_form" in text and "(Intercept) | Subject" in text
    assert "re_form_response_" not in text and "y_" not in text


def test_nagq_limits_match_lme4() -> None:
    """lme4's GHrule: stopifnot(ord < 101L); the refusal happens before any allocation."""
    from mixedfx.validate import MAX_NAGQ, check_nagq

    assert MAX_NAGQ == 100
    assert check_nagq(100) == 100
    with pytest.raises(mfx.errors.ArgumentError, match="at most 100"):
        check_nagq(101)


def test_singular_fit_message_points_at_mixedfx_docs() -> None:
    d = mfx.datasets.load("Dyestuff2")
    with pytest.warns(UserWarning) as record:
        mfx.lmer("Yield ~ 1 + (1 | Batch)", d)
    text = " ".join(str(w.message) for w in record)
    assert "singular" in text
    assert "help('isSingular')" not in text
    assert "mixedfx" in text


def _public_methods(model: Any) -> list[str]:
    import inspect

    return [n for n in dir(model) if not n.startswith("_")
            and inspect.isfunction(getattr(type(model), n, None))]


@pytest.mark.parametrize("kind", ["lmer", "glmer", "gls", "lm", "glm"])
def test_every_public_method_refuses_an_unknown_keyword(kind: str) -> None:
    """Nothing is ignored and nothing escapes as Python's TypeError: each method of each model
    kind names the unknown keyword (methods forwarding **kwargs check them against the
    function they forward to)."""
    model = {"lmer": lambda: M, "glmer": lambda: G,
             "gls": lambda: mfx.gls("Reaction ~ Days", SL),
             "lm": lambda: mfx.lm("Reaction ~ Days", SL),
             "glm": lambda: mfx.glm("incidence ~ period", CB, family="poisson")}[kind]()
    names = _public_methods(model)
    assert {"summary", "confint"} <= set(names)
    for name in names:
        with pytest.raises(mfx.errors.ArgumentTypeError, match="'bogus_'") as info:
            _quiet(lambda name=name: getattr(model, name)(bogus_=1))
        assert "bogus_" in str(info.value), name


@pytest.mark.parametrize("package", ["mixedfx", "mixedfx.datasets", "mixedfx.families",
                                     "mixedfx.inference", "mixedfx.plots", "mixedfx.tidy",
                                     "mixedfx.diagnostics", "mixedfx.effects",
                                     "mixedfx.residual"])
def test_every_public_function_refuses_an_unknown_keyword(package: str) -> None:
    import importlib
    import inspect

    mod = importlib.import_module(package)
    functions = [n for n in mod.__all__ if inspect.isfunction(getattr(mod, n))]
    assert functions
    for name in functions:
        fn = getattr(mod, name)
        forwards = any(p.kind == p.VAR_KEYWORD
                       for p in inspect.signature(fn).parameters.values())
        args = (M,) if forwards else ()      # **kwargs are checked once the model is known
        with pytest.raises(mfx.errors.ArgumentTypeError, match="'bogus_'"):
            _quiet(lambda fn=fn, args=args: fn(*args, bogus_=1))
