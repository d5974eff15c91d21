"""The size of the blocked Cholesky factor's dense trailing block, which decides how many BLAS
threads a fit's dense algebra gets (`optimize.threads.blas_threads_for`)."""

from __future__ import annotations

from mixedfx.frame.model_frame import ModelFrame


def dense_block_size(frame: ModelFrame) -> int:
    """Rows of the dense trailing block: the random effects of every term but the largest
    (first) one, the fixed effects and the response: Σ_{t>1} q_t + p + 1."""
    return sum(t.q for t in frame.terms[1:]) + frame.X.shape[1] + 1
