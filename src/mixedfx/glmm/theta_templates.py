"""θ -> Λ's per-term templates for the GLMM engine, cached per θ."""

from __future__ import annotations

import numpy as np

from mixedfx.glmm.kernel_layout import kernel_templates


class ThetaTemplates:
    """θ -> the per-term lower Cholesky templates, with a small cache (a class rather than a
    closure so that fits pickle)."""

    def __init__(self, terms: list) -> None:
        self.terms = terms
        self.cache: dict[bytes, list[np.ndarray]] = {}

    def __call__(self, theta: np.ndarray) -> list[np.ndarray]:
        key = np.asarray(theta, dtype=float).tobytes()
        if key not in self.cache:
            if len(self.cache) > 64:
                self.cache.clear()
            out, i = [], 0
            for t in self.terms:
                out.append(t.covariance.template(theta[i:i + t.n_theta]))
                i += t.n_theta
            self.cache[key] = kernel_templates(out)
        return self.cache[key]
