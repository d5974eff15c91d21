"""The state of PIRLS at given conditional modes: u, β and everything evaluated at them."""

from __future__ import annotations

from dataclasses import MISSING, dataclass
from dataclasses import fields as dataclass_fields
from typing import Any

import numpy as np


@dataclass
class PirlsState:
    """Conditional modes and everything evaluated at them."""

    u: list[np.ndarray]             # spherical random effects per term, (levels, k)
    beta: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    dev_resid_sum: float
    ussq: float
    factor: Any = None            # the factor at the last iteration's weights (its ldL2, L11)
    chol: Any = None              # its BlockedCholesky (NumPy path only)
    iterations: int = 0
    loglik_kernel: float | None = None
    lag: float = np.inf           # size of the step since `factor` was computed
    templates: list[np.ndarray] | None = None   # Λ templates the modes were found at

    @property
    def pdev(self) -> float:
        return self.dev_resid_sum + self.ussq

    @classmethod
    def from_fields(cls, **fields: Any) -> PirlsState:
        """As the constructor (the defaults for the fields not given), without the
        dataclass's per-field assignments: one state per compiled PIRLS call."""
        state = object.__new__(cls)
        state.__dict__.update(_DEFAULTS, **fields)
        return state



class CanonicalState(PirlsState):
    """A state from the compiled PIRLS, whose η and μ come in the model's canonical row order
    and are put in the data's order only when first read (η[order] = η_c): most states of a
    fit are only compared by their objective value, so the scatter is skipped for them.
    `canonical_rows()` gives (η_c, μ_c) while they are still the kernel's (nothing assigned)."""

    def __init__(self, *, eta_c: np.ndarray, mu_c: np.ndarray, order: np.ndarray,
                 **fields: Any) -> None:
        self.__dict__["_canon"] = (eta_c, mu_c, order)
        super().__init__(eta=None, mu=None, **fields)

    @classmethod
    def make(cls, eta_c: np.ndarray, mu_c: np.ndarray, order: np.ndarray,
             **fields: Any) -> CanonicalState:
        """As the constructor, without the dataclass's per-field assignments (one state per
        PIRLS call: this is on the objective's hot path)."""
        state = object.__new__(cls)
        state.__dict__.update(_DEFAULTS, _canon=(eta_c, mu_c, order), _eta=None, _mu=None,
                              **fields)
        return state

    @classmethod
    def of_kernel(cls, eta_c: np.ndarray, mu_c: np.ndarray, order: np.ndarray,
                  u: list[np.ndarray], beta: np.ndarray, dev_resid_sum: float, ussq: float,
                  factor: Any, iterations: int, loglik_kernel: float | None,
                  lag: float) -> CanonicalState:
        """`make` with the compiled PIRLS's fields given by position (the same attributes in
        the same order, without building and unpacking keyword arguments: one state per
        compiled call that is read)."""
        state = object.__new__(cls)
        d = state.__dict__
        d.update(_DEFAULTS)
        d["_canon"] = (eta_c, mu_c, order)
        d["_eta"] = d["_mu"] = None
        d["u"] = u
        d["beta"] = beta
        d["dev_resid_sum"] = dev_resid_sum
        d["ussq"] = ussq
        d["factor"] = factor
        d["iterations"] = iterations
        d["loglik_kernel"] = loglik_kernel
        d["lag"] = lag
        return state

    def canonical_rows(self) -> tuple[np.ndarray, np.ndarray] | None:
        c = self.__dict__.get("_canon")
        return None if c is None else (c[0], c[1])

    def _get(self, name: str, which: int) -> np.ndarray:
        value = self.__dict__.get(name)
        canon = self.__dict__.get("_canon")
        if value is None and canon is not None:
            value = np.empty_like(canon[which])
            value[canon[2]] = canon[which]
            self.__dict__[name] = value
        return value

    def _set(self, name: str, value: np.ndarray | None) -> None:
        if value is not None and self.__dict__.get("_canon") is not None:
            self._get("_eta", 0)      # both in the data's order before the kernel's
            self._get("_mu", 1)       # copies are dropped
            self.__dict__["_canon"] = None
        self.__dict__[name] = value

    eta = property(lambda self: self._get("_eta", 0),          # type: ignore[assignment]
                   lambda self, v: self._set("_eta", v))
    mu = property(lambda self: self._get("_mu", 1),            # type: ignore[assignment]
                  lambda self, v: self._set("_mu", v))


#: PirlsState's field defaults, for `CanonicalState.make`
_DEFAULTS = {f.name: f.default for f in dataclass_fields(PirlsState) if f.default is not MISSING}
