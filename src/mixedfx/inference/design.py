"""Explicit sparse forms of the random-effects design for the inference code that needs them
(Kenward–Roger, posterior simulation, RLRsim): Z (n×q, terms in order, level-major columns,
as lme4's Zᵀ transposed) and Λ = blockdiag(I_levels ⊗ T_t). The engine itself never forms Z.
They live with the model's getME accessors (`mixedfx.results.getme`).
"""

from mixedfx.results.getme import lambda_matrix, z_matrix

__all__ = ["lambda_matrix", "z_matrix"]
