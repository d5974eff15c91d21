"""The result of a likelihood profile (lme4's `thpr`): per-parameter tables of ζ against
the parameter, the interpolating splines, and the profile confidence intervals read off them.

`Profile.confint` inverts ζ(ψ) at ζ = Φ⁻¹(α/2), Φ⁻¹(1 − α/2) through the backward spline
ψ(ζ); without one (a non-monotone profile) it interpolates linearly, and an end outside the
profiled range is the parameter's bound, as lme4's `confint.thpr`. How the profile is
computed is in `mixedfx.inference.profile`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mixedfx.inference.splines import PolySpline, approx
from mixedfx.lazy import lazy_module
from mixedfx.warn import warn

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here


class ProfileWarning(UserWarning):
    """Something lme4 would warn about while profiling (non-monotone profile, minstep, ...)."""


@dataclass
class ParameterProfile:
    """The profile of one parameter: its table and the forward/backward splines."""

    name: str
    table: pd.DataFrame
    forward: PolySpline | None
    backward: PolySpline | None
    error: str | None = None


@dataclass
class Profile:
    """lme4's `thpr`: per-parameter profiles plus the bounds of the variance parameters."""

    params: dict[str, ParameterProfile]
    lower: dict[str, float]
    upper: dict[str, float]
    columns: list[str]
    warnings: list[str] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        """All profiles stacked (lme4's data frame): `.zeta`, every parameter, `.par`."""
        parts = [pp.table.assign(**{".par": name}) for name, pp in self.params.items()]
        out = pd.concat(parts, ignore_index=True)
        out[".par"] = pd.Categorical(out[".par"], categories=list(self.params))
        return out

    def confint(self, level: float = 0.95) -> pd.DataFrame:
        """lme4's `confint.thpr`."""
        a = (1.0 - level) / 2.0
        zeta = stats.norm.ppf([a, 1.0 - a])
        rows = {}
        for name, pp in self.params.items():
            if pp.backward is not None:
                ci = pp.backward(zeta)
            else:
                tab = pp.table
                z = tab[".zeta"].to_numpy()
                if np.all(np.isnan(z)):
                    self._warn(f"bad profile for {name}")
                    rows[name] = [math.nan, math.nan]
                    continue
                dz = np.diff(z)
                dz = dz[~np.isnan(dz)]
                if len(dz) and np.all(dz < -0.01):
                    self._warn(f"non-monotonic profile for {name}")
                    rows[name] = [math.nan, math.nan]
                    continue
                self._warn(f"bad spline fit for {name}: falling back to linear interpolation")
                ci = approx(z, tab[name].to_numpy(), zeta)
            ci = self._within_bracket(name, pp, zeta, np.array(ci, dtype=float))
            if np.isnan(ci[0]):
                ci[0] = self.lower.get(name, math.nan)
            if np.isnan(ci[1]):
                ci[1] = self.upper.get(name, math.nan)
            rows[name] = list(ci)
        return pd.DataFrame.from_dict(rows, orient="index", columns=["lower", "upper"])

    @staticmethod
    def _within_bracket(name: str, pp: ParameterProfile, zeta: np.ndarray,
                        ci: np.ndarray) -> np.ndarray:
        """Each interval end must lie between the two profile points whose ζ bracket its zₖ
        (ζ is monotone between them): an end the interpolating spline bent outside that
        bracket (e.g. pulled by a poorly minimized point on the parameter's bound) is
        replaced by linear interpolation between the bracketing points."""
        tab = pp.table
        v = tab[name].to_numpy()
        z = tab[".zeta"].to_numpy()
        ok = np.isfinite(v) & np.isfinite(z)
        v, z = v[ok], z[ok]
        out = ci.copy()
        for k, zk in enumerate(zeta):
            if not np.isfinite(out[k]):
                continue
            hits = np.flatnonzero((z[:-1] - zk) * (z[1:] - zk) <= 0)
            hits = hits[z[hits] != z[hits + 1]]
            if len(hits) != 1:
                continue
            i = hits[0]
            lo, hi = sorted((v[i], v[i + 1]))
            if not lo <= out[k] <= hi:
                out[k] = v[i] + (zk - z[i]) * (v[i + 1] - v[i]) / (z[i + 1] - z[i])
        return out

    def _warn(self, msg: str) -> None:
        self.warnings.append(msg)
        warn(msg, ProfileWarning)
