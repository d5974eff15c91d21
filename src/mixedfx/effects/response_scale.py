"""The response scale emmeans back-transforms to: a GLM(M)'s link, or for a linear (mixed)
model a transformation of the response in the formula that emmeans recognizes (`log(y)`,
`log10(y)`, `log2(y)`, `log1p(y)`, `sqrt(y)`), with emmeans' additive constant: for
`f(y + c)` with a number c the response is f⁻¹(η) − c (`log(y + 1)`: exp(η) − 1), the SE and
the contrasts being those of f.

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
from typing import TYPE_CHECKING

import numpy as np

from mixedfx.effects.design import family_of

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import FramedFit

RESPONSE_NAMES = {"binomial": "prob", "poisson": "rate", "negative.binomial": "response"}
TRANSFORM = re.compile(r"^(log|log10|log2|log1p|sqrt)\((.+)\)$")
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


def _transform(name: str, shift: float = 0.0) -> ResponseScale:
    """emmeans' scale of `name(y + shift)`: μ = f⁻¹(η) − shift."""
    if name == "sqrt":               # emmeans: max(0, η)², 2·max(0, η)
        return ResponseScale("response", lambda e: np.square(np.maximum(e, 0.0)) - shift,
                             lambda e: 2.0 * np.maximum(e, 0.0))
    if name == "log1p":              # contrasts stay on the log1p scale
        return ResponseScale("response", lambda e: np.expm1(e) - shift, np.exp)
    b = LOG_BASES[name]
    return ResponseScale("response", lambda e: np.power(b, e) - shift,
                         lambda e: np.power(b, e) * math.log(b), "ratio", b)


def _shift(response: str) -> float:
    """emmeans' additive constant: the third piece of the response split at ( ) +, when it
    is a number (`log(y + 1)` -> 1; `log(1 + y)` has none)."""
    pieces = re.split(r"[()+]", response)
    if len(pieces) > 2:
        try:
            return float(pieces[2])
        except ValueError:
            return 0.0
    return 0.0


def response_scale(model: FramedFit) -> ResponseScale | None:
    """The model's response scale (None when it is the linear predictor's own scale)."""
    fam = family_of(model)
    if fam is not None:
        link = fam.link
        if link.name == "identity":
            return None
        ratio = {"logit": "odds.ratio", "log": "ratio"}.get(link.name)
        return ResponseScale(RESPONSE_NAMES.get(fam.name, "response"), link.linkinv,
                             link.mu_eta, ratio)
    response = (getattr(model.frame.formula, "response", None) or "").replace(" ", "")
    m = TRANSFORM.match(response)
    return _transform(m.group(1), _shift(response)) if m else None
