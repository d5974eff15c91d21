"""Optimization of the profiled objective: the nlopt wrapper, lme4's edge and boundary
handling, finite-difference derivatives and the convergence checks that warn as lme4 does."""

from mixedfx.optimize.control import Control
from mixedfx.optimize.driver import OptimizationResult, optimize_theta

__all__ = ["Control", "OptimizationResult", "optimize_theta"]
