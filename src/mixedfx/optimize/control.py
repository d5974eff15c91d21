"""Optimizer settings, with lme4's `lmerControl` defaults."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from mixedfx.errors import ArgumentError, ArgumentTypeError
from mixedfx.unknown_arguments import refuse_unknown_arguments

OPTIMIZERS = ("bobyqa", "nelder_mead", "cobyla", "sbplx")


MAXEVAL_FLOOR = 1_000
MAXEVAL_CEILING = 100_000     # lme4's nloptwrap default maxeval


def eval_budget(n_params: int) -> int:
    """100·(d + 1)² evaluations for d parameters, within [1 000, 100 000]."""
    return int(min(MAXEVAL_CEILING, max(MAXEVAL_FLOOR, 100 * (n_params + 1) ** 2)))


@dataclass(frozen=True)
class Control:
    """Settings of the θ optimization (lme4's `lmerControl` defaults unless stated).

    `calc_derivs=None` computes the finite-difference gradient and Hessian for the convergence
    checks only when there are fewer than 10 000 observations, as lme4 does.

    `polish`: after BOBYQA, when the finite-difference derivatives are computed (see
    `calc_derivs`), take Newton steps to the minimum on the free coordinates
    (`optimize.polish`), so that the estimates do not depend on where BOBYQA happened to stop
    on a flat ridge. Off by default: lme4 does not polish, and its printed estimates differ
    from the polished ones in the last printed digit (sleepstudy: 612.10 against 612.09 for
    the Subject intercept variance, with REML criteria equal to 2e-12 relative).

    `presolve`: before lme4's BOBYQA run, locate the optimum roughly by BOBYQA on log θ (for
    the parameters bounded below by 0). On the log scale a variance far above its optimum is a
    short walk, where on lme4's scale BOBYQA crawls across a nearly flat objective; the final
    full-precision run then starts close by with a small trust region. "auto" does this only
    when one evaluation is costly (a dense trailing block of at least `presolve_min_block`
    rows); small models follow lme4's optimizer path exactly.

    `restart_singular`: a linear mixed model whose fit ends singular (`is_singular`) is
    optimized again from the boundary point and from an interior point with fresh trust
    regions, and the better optimum is kept (`optimize.restart`); lme4 does not do this, but
    its one-sided `restart_edge` test cannot see every better optimum across a boundary.

    `maxeval`: the evaluation budget of each optimizer run. None (default): scaled with the
    number d of parameters optimized, `eval_budget(d)` = 100·(d + 1)², at least 1 000 and at
    most lme4's 100 000 (a derivative-free run converges in O(d²) evaluations; a flat
    objective, e.g. a GLMM fixed effect drifting off to ±∞ under separation, otherwise runs
    all of lme4's 1e5 evaluations on a 30-row problem). An integer is used as given.

    `max_time`: a wall-clock budget in seconds for each optimizer run (None: none, as lme4);
    when it runs out the fit is returned with a convergence warning, like `maxeval`.

    `warm_step`: a GLMM started at θ and fixed effects (`start={"theta": ..., "fixef": ...}`,
    a nearby fit) skips stage 1 and begins stage 2 with this fraction of its usual initial
    trust region (`glmer_nb`'s θ search makes it smaller the nearer the start's θ).
    """

    optimizer: str = "bobyqa"
    xtol_abs: float = 1e-8
    ftol_abs: float = 1e-8
    maxeval: int | None = None
    restart_edge: bool = True
    restart_singular: bool = True
    boundary_tol: float = 1e-5
    calc_derivs: bool | None = None
    check_conv_grad_tol: float = 2e-3
    check_conv_hess_tol: float = 1e-6
    check_singular_tol: float = 1e-4
    check_conv: bool = True
    glmm_xtol_abs: float = 1e-4
    presolve: str = "auto"
    presolve_min_block: int = 256
    polish: bool = False
    max_time: float | None = None
    warm_step: float = 0.2

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ArgumentError(
                   f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
            )
        if self.presolve not in ("auto", "always", "never"):
            raise ArgumentError("control presolve must be 'auto', 'always' or 'never'")
        if self.maxeval is not None and (isinstance(self.maxeval, bool) or not isinstance(
                self.maxeval, int) or self.maxeval < 1):
            raise ArgumentError(f"control maxeval must be a positive integer, got {self.maxeval!r}")
        for name in ("xtol_abs", "ftol_abs", "boundary_tol", "check_conv_grad_tol",
                     "check_conv_hess_tol", "check_singular_tol", "glmm_xtol_abs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 \
                    or v == float("inf"):
                raise ArgumentError(f"control {name} must be a finite number >= 0, got {v!r}")
        if isinstance(self.warm_step, bool) or not isinstance(self.warm_step, (int, float)) \
                or not 0 < self.warm_step <= 1:
            raise ArgumentError(f"control warm_step must be a number in (0, 1], got "
                                f"{self.warm_step!r}")
        for name in ("restart_edge", "restart_singular", "check_conv"):
            if not isinstance(getattr(self, name), bool):
                raise ArgumentError(f"control {name} must be True or False, got "
                                    f"{getattr(self, name)!r}")
        if self.calc_derivs is not None and not isinstance(self.calc_derivs, bool):
            raise ArgumentError(f"control calc_derivs must be True, False or None, got "
                                f"{self.calc_derivs!r}")
        if self.max_time is not None and (isinstance(self.max_time, bool) or not isinstance(
                self.max_time, (int, float)) or not self.max_time > 0):
            raise ArgumentError(f"control max_time must be a positive number of seconds or None, "
                                f"got {self.max_time!r}")

    def budget(self, n_params: int) -> int:
        """The evaluation budget of a run over `n_params` parameters (see `maxeval`)."""
        return self.maxeval if self.maxeval is not None else eval_budget(n_params)

    @classmethod
    def from_user(cls, control: Control | dict[str, Any] | None) -> Control:
        """Accept a Control, a dict of its fields, or None (defaults: one shared instance,
        frozen, so a fit does not build and check a new one)."""
        if control is None:
            return _DEFAULT if cls is Control else cls()
        if isinstance(control, Control):
            return control
        if isinstance(control, dict):
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(control) - known)
            if unknown:
                raise ArgumentError(
                       f"unknown control setting(s) {unknown}; known: {sorted(known)}"
                )
            return cls(**control)
        raise ArgumentTypeError("control must be a mixedfx.optimize.Control, a dict or None")


# Control(maxfun=...) names the unknown field (ArgumentTypeError), not a bare TypeError
Control.__init__ = refuse_unknown_arguments(Control.__init__)  # type: ignore[method-assign]

_DEFAULT = Control()
