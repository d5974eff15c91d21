"""The response scale emmeans back-transforms to: a GLM(M)'s link, or for a linear (mixed)
model a transformation of the response in the formula that emmeans recognizes (`log(y)`,
`log10(y)`, `log2(y)`, `sqrt(y)`).

`type="response"` means `prob` / `rate` / `response` (μ = g⁻¹(η), SE·|dμ/dη| by the delta
method) and, for contrasts, ratios when the scale is logit (odds ratios) or a logarithm
(b^d for base b: ratios, SE·b^d·ln b); other scales keep link-scale differences, as emmeans
("contrasts are still on the sqrt scale").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixedfx.effects.design import family_of

RESPONSE_NAMES = {"binomial": "prob", "poisson": "rate", "negative.binomial": "response"}
TRANSFORM = re.compile(r"^(log|log10|log2|sqrt)\((.+)\)$")
LOG_BASES = {"log": math.e, "log10": 10.0, "log2": 2.0}


@dataclass(frozen=True)
class ResponseScale:
    """`name` of the back-transformed column, μ = `inverse`(η), dμ/dη = `derivative`(η);
    `ratio_name` and `base` when contrasts become ratios b^d (None otherwise)."""

    name: str
    inverse: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]
    ratio_name: str | None = None
    base: float = math.e


def _transform(name: str) -> ResponseScale:
    if name == "sqrt":
        return ResponseScale("response", np.square, lambda e: 2.0 * e)
    b = LOG_BASES[name]
    return ResponseScale("response", lambda e: np.power(b, e),
                         lambda e: np.power(b, e) * math.log(b), "ratio", b)


def response_scale(model: Any) -> ResponseScale | None:
    """The model's response scale (None when it is the linear predictor's own scale)."""
    fam = family_of(model)
    if fam is not None:
        link = fam.link
        if link.name == "identity":
            return None
        ratio = {"logit": "odds.ratio", "log": "ratio"}.get(link.name)
        return ResponseScale(RESPONSE_NAMES.get(fam.name, "response"), link.linkinv,
                             link.mu_eta, ratio)
    response = getattr(model.frame.formula, "response", None) or ""
    m = TRANSFORM.match(response.replace(" ", ""))
    return _transform(m.group(1)) if m else None
