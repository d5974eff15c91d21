"""Σ of every block and its first and second derivatives with respect to θ.

The unstructured Σ (`us`) has analytic derivatives (`mixedfx.mmrm.us_derivatives`). For the
other structures, first derivatives by the complex step, ∂Σ/∂θ_k = Im Σ(θ + i h e_k) / h
with h = 1e-20, which is exact to rounding (no subtraction); second derivatives by central
differences of those,
∂²Σ/∂θ_k∂θ_l ≈ [∂_kΣ(θ + δe_l) − ∂_kΣ(θ − δe_l)] / 2δ, error O(δ²) with δ = 1e-4 (|θ|
scaled). θ is the whole parameter vector, the groups' parameters one after another; a block
of group g depends on group g's slice only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mixedfx.mmrm.design import Block
from mixedfx.mmrm.structures import STRUCTURE_TABLE, spatial_sigma
from mixedfx.mmrm.us_derivatives import us_hessian, us_hessian_contracted, us_jacobian

_H = 1e-20


def complex_step_jacobian(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray
                          ) -> np.ndarray:
    """∂fn/∂x_k for each k, stacked on a leading axis: Im fn(x + i·h·e_k) / h with
    h = 1e-20 (exact to rounding for a real-analytic fn)."""
    out = []
    for k in range(len(x)):
        z = x.astype(complex)
        z[k] += 1j * _H
        out.append(fn(z).imag / _H)
    return np.array(out)


class SigmaMap:
    """Σ(θ) per block for one structure, number of visits and number of groups."""

    def __init__(self, structure: str, n_visits: int, n_groups: int) -> None:
        self.structure = STRUCTURE_TABLE[structure]
        self.m = n_visits
        self.n_groups = n_groups
        self.k = self.structure.n_params(n_visits)

    @property
    def n_theta(self) -> int:
        return self.k * self.n_groups

    def group_slice(self, g: int) -> slice:
        return slice(g * self.k, (g + 1) * self.k)

    def full(self, theta: np.ndarray, g: int) -> np.ndarray:
        """The group's m × m Σ (non-spatial structures)."""
        return self.structure.sigma(theta[self.group_slice(g)], self.m)

    def _block_fn(self, block: Block) -> Callable[[np.ndarray], np.ndarray]:
        if block.dist is not None:
            name, dist = self.structure.name, block.dist
            return lambda th: spatial_sigma(name, th, dist)
        idx = block.visits
        sigma = self.structure.sigma
        return lambda th: sigma(th, self.m)[np.ix_(idx, idx)]

    def sigmas(self, theta: np.ndarray, blocks: list[Block]) -> list[np.ndarray]:
        """Σ of every block (the group's Σ computed once per group)."""
        if self.structure.spatial:
            return [spatial_sigma(self.structure.name, theta[self.group_slice(b.group)],
                                  b.dist) for b in blocks]
        full = [self.full(theta, g) for g in range(self.n_groups)]
        return [full[b.group][np.ix_(b.visits, b.visits)] for b in blocks]

    def _group_jac(self, fn: Callable[[np.ndarray], np.ndarray], th: np.ndarray
                   ) -> np.ndarray:
        return complex_step_jacobian(fn, th)

    def group_jacobian(self, theta: np.ndarray, g: int) -> np.ndarray:
        """∂Σ_g/∂θ_k of group g's m × m Σ (non-spatial), (k, m, m)."""
        if self.structure.name == "us":
            return us_jacobian(theta[self.group_slice(g)], self.m)
        return self._group_jac(lambda th: self.structure.sigma(th, self.m),
                               theta[self.group_slice(g)])

    def jacobians(self, theta: np.ndarray, blocks: list[Block]) -> list[np.ndarray]:
        """∂Σ_b/∂θ_k for the block's group parameters: one (k, t, t) array per block."""
        if self.structure.spatial:
            return [self._group_jac(self._block_fn(b), theta[self.group_slice(b.group)])
                    for b in blocks]
        full = [self.group_jacobian(theta, g) for g in range(self.n_groups)]
        return [full[b.group][:, b.visits][:, :, b.visits] for b in blocks]

    def _second(self, fn: Callable[[np.ndarray], np.ndarray], th: np.ndarray) -> np.ndarray:
        out = []
        for ell in range(len(th)):
            d = 1e-4 * max(1.0, abs(th[ell]))
            up, dn = th.copy(), th.copy()
            up[ell] += d
            dn[ell] -= d
            out.append((self._group_jac(fn, up) - self._group_jac(fn, dn)) / (2 * d))
        H = np.array(out)                                      # (l, k, t, t)
        return 0.5 * (H + H.transpose(1, 0, 2, 3))

    def group_hessian(self, theta: np.ndarray, g: int) -> np.ndarray:
        """∂²Σ_g/∂θ_k∂θ_l of group g's m × m Σ (non-spatial), (k, k, m, m)."""
        if self.structure.name == "us":
            return us_hessian(theta[self.group_slice(g)], self.m)
        return self._second(lambda th: self.structure.sigma(th, self.m),
                            theta[self.group_slice(g)])

    def group_hessian_contracted(self, theta: np.ndarray, g: int, M: np.ndarray
                                 ) -> np.ndarray:
        """Σ_tu ∂²Σ_g/∂θ_k∂θ_l[t, u] M[t, u] for a symmetric m × m M, (k, k)."""
        if self.structure.name == "us":
            return us_hessian_contracted(theta[self.group_slice(g)], self.m, M)
        Hg = self.group_hessian(theta, g)
        k = Hg.shape[0]
        return (Hg.reshape(k * k, -1) @ M.ravel()).reshape(k, k)

    def hessians(self, theta: np.ndarray, blocks: list[Block]) -> list[np.ndarray]:
        """∂²Σ_b/∂θ_k∂θ_l: one (k, k, t, t) array per block."""
        if self.structure.spatial:
            return [self._second(self._block_fn(b), theta[self.group_slice(b.group)])
                    for b in blocks]
        full = [self.group_hessian(theta, g) for g in range(self.n_groups)]
        return [full[b.group][:, :, b.visits][:, :, :, b.visits] for b in blocks]
