"""The call of a fitted model as R prints `m@call` (lme4) or `m$call` (nlme's gls).

R records the call as typed; Python cannot know the expression a data frame came from, so
the call is rebuilt from the fit in R's canonical form: `lmer(formula = <formula as given>,
data = <name>, REML = FALSE)`; `glmer(..., family = binomial)` (a non-default link as
`binomial(link = "probit")`, `nAGQ = k` when k > 1, a negative binomial fit as R's own
`lme4::glmer(..., family = MASS::negative.binomial(theta = θ))`); `gls(model = ..., data =
..., method = "ML")`. The data's name is the model's `data_name` (a bundled data set's name,
`data_name=` or `data.attrs["name"]`), else `data`. Residual structures, weights and offsets
are not part of the text.
"""

from __future__ import annotations

from typing import Any

# R's default link of each family (a call names the link only when it differs)
DEFAULT_LINK = {"binomial": "logit", "poisson": "log", "Gamma": "inverse",
                 "gaussian": "identity", "inverse.gaussian": "1/mu^2"}


def _family_text(family: Any) -> str:
    if family.theta is not None:                      # glmer.nb's fit, as R records it
        return f"MASS::negative.binomial(theta = {family.theta:.15g})"
    if DEFAULT_LINK.get(family.name) == family.link.name:
        return family.name
    return f'{family.name}(link = "{family.link.name}")'


def r_call(function: str, formula: str, data_name: str | None, reml: bool | None = None,
           family: Any = None, nagq: int = 1) -> str:
    """The call text: `function` is "lmer", "glmer" or "gls"; `reml` None for GLMMs."""
    data = data_name or "data"
    if function == "gls":
        parts = [f"model = {formula}", f"data = {data}"]
        if reml is False:
            parts.append('method = "ML"')
        return f"gls({', '.join(parts)})"
    parts = [f"formula = {formula}", f"data = {data}"]
    if function == "lmer" and reml is False:
        parts.append("REML = FALSE")
    if family is not None:
        fam = _family_text(family)
        parts.append(f"family = {fam}")
        if fam.startswith("MASS::"):
            function = "lme4::glmer"
    if nagq != 1:
        parts.append(f"nAGQ = {nagq}")
    return f"{function}({', '.join(parts)})"
