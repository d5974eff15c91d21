"""GLM families and link functions, as R's `family` objects (stats package).

    import mixedfx as mfx
    mfx.families.binomial(link="probit"); mfx.families.Gamma(link="log")
"""

from mixedfx.families.family import (
    Family,
    Gamma,
    binomial,
    family_from,
    gaussian,
    inverse_gaussian,
    negative_binomial,
    poisson,
)
from mixedfx.families.links import Link, link_from
from mixedfx.unknown_arguments import refuse_unknown_arguments_of

__all__ = ["Family", "Gamma", "Link", "binomial", "family_from", "gaussian",
           "inverse_gaussian", "link_from", "negative_binomial", "poisson"]

refuse_unknown_arguments_of(globals(), __all__)       # unknown keywords: ArgumentTypeError
