"""lme4's `allFit()`: the same model refitted with every available optimizer.

`all_fit(model)` refits through `update(control=...)` with each of mixedfx's optimizers
(nlopt's BOBYQA, Nelder–Mead, COBYLA and Sbplx, as lme4's `nloptwrap` with
`NLOPT_LN_BOBYQA`, `NLOPT_LN_NELDERMEAD`, `NLOPT_LN_COBYLA`, `NLOPT_LN_SBPLX`) and returns
one row per optimizer. Agreement of the criteria across optimizers (to their tolerance)
says the fit is not an optimizer artefact; a row with a clearly lower criterion says the
default stopped early. `all_fit_summary(table)` splits the table into the pieces of lme4's
`summary(allFit(m))`: `which_ok`, `msgs`, `fixef`, `llik`, `sdcor`, `theta`, `times`,
`feval`.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError, MixedfxError
from mixedfx.optimize.control import OPTIMIZERS
from mixedfx.optimize.convergence import SINGULAR_MESSAGE

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import MixedFit


def _sdcor(model: MixedFit) -> pd.Series:
    vc = model.varcorr
    names = [f"{g}.{a}" if b is None or (isinstance(b, float) and np.isnan(b))
             else f"{g}.{a}.{b}" for g, a, b in zip(vc["grp"], vc["var1"], vc["var2"],
                                                   strict=True)]
    return pd.Series(vc["sdcor"].to_numpy(dtype=float), index=names)


def _row(name: str, model: MixedFit, seconds: float, crit_name: str) -> dict[str, Any]:
    info = model.optimizer_info
    messages = [m for m in info["messages"] if m != SINGULAR_MESSAGE]
    return {"optimizer": name, "ok": True,
            "converged": bool(info["converged"]) and not messages,
            "messages": "; ".join(info["messages"]),
            crit_name: float(model.deviance), "loglik": float(model.loglik),
            "fixef": model.fixef.copy(),
            "theta": pd.Series(np.asarray(model.theta, dtype=float),
                               index=model.theta_names),
            "sdcor": _sdcor(model), "sigma": float(model.sigma),
            "feval": int(info["evaluations"]), "time": seconds}


def all_fit(model: MixedFit, optimizers: tuple[str, ...] | list[str] | None = None
            ) -> pd.DataFrame:
    """One row per optimizer: `optimizer`, `ok` (the fit ran: lme4's `which.OK`),
    `converged` (no convergence warning), `messages` (the warnings, "; "-joined), the REML
    criterion (column `REML`, REML fits) or `deviance`, `loglik`, `fixef`, `theta` and
    `sdcor` (pandas Series per row), `sigma`, `feval` (objective evaluations) and `time`
    (seconds). `optimizers`: a subset of `mixedfx.optimize.control.OPTIMIZERS` (default:
    all). A fit that fails has `ok` False and the error in `messages`."""
    names = list(OPTIMIZERS if optimizers is None else optimizers)
    unknown = [o for o in names if o not in OPTIMIZERS]
    if unknown or not names:
        raise ArgumentError(f"all_fit optimizers must be a non-empty list from "
                            f"{list(OPTIMIZERS)}, got {unknown or names}")
    crit_name = "REML" if getattr(model, "REML", False) else "deviance"
    rows = []
    for name in names:
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                refit = model.update(control=replace(model.control, optimizer=name))
        except MixedfxError as exc:
            rows.append({"optimizer": name, "ok": False, "converged": False,
                         "messages": f"{type(exc).__name__}: {exc}", crit_name: np.nan,
                         "loglik": np.nan, "fixef": None, "theta": None, "sdcor": None,
                         "sigma": np.nan, "feval": 0, "time": time.perf_counter() - t0})
            continue
        rows.append(_row(name, refit, time.perf_counter() - t0, crit_name))
    return pd.DataFrame(rows)


def all_fit_summary(table: pd.DataFrame) -> dict[str, Any]:
    """lme4's `summary(allFit(m))` from an `all_fit` table: `which_ok` (Series), `msgs`
    (dict), `fixef`, `theta`, `sdcor` (frames, optimizer × parameter), `llik`, `times`,
    `feval` (Series), each indexed by the optimizers."""
    idx = pd.Index(table["optimizer"], name="optimizer")
    ok = table["ok"].to_numpy(dtype=bool)

    def frame(col: str) -> pd.DataFrame:
        return pd.DataFrame([s for s in table.loc[ok, col]], index=idx[ok])

    return {"which_ok": pd.Series(ok, index=idx),
            "msgs": {o: (m or None) for o, m in zip(idx, table["messages"], strict=True)},
            "fixef": frame("fixef"), "llik": pd.Series(table["loglik"].to_numpy(), index=idx),
            "sdcor": frame("sdcor"), "theta": frame("theta"),
            "times": pd.Series(table["time"].to_numpy(), index=idx),
            "feval": pd.Series(table["feval"].to_numpy(), index=idx)}
