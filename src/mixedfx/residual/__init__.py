"""nlme's residual structures: variance functions (`var_ident`, `var_power`, `var_exp`) and
within-group correlation structures (`cor_ar1`, `cor_car1`, `cor_comp_symm`, `cor_symm`),
bound to a model frame as a whitening of its rows (see `residual.structure`)."""

from mixedfx.residual.correlation import (
    CorStruct,
    cor_ar1,
    cor_car1,
    cor_comp_symm,
    cor_symm,
)
from mixedfx.residual.structure import ResidualStructure, bind_structures
from mixedfx.residual.variance import VarFunc, var_exp, var_ident, var_power
from mixedfx.unknown_arguments import refuse_unknown_arguments_of

__all__ = ["CorStruct", "ResidualStructure", "VarFunc", "bind_structures", "cor_ar1",
           "cor_car1", "cor_comp_symm", "cor_symm", "var_exp", "var_ident", "var_power"]

refuse_unknown_arguments_of(globals(), __all__)       # unknown keywords: ArgumentTypeError
