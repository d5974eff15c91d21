"""Fitted models of Dask data: the ordinary result classes, with the row-sized results
(fitted values, residuals, predictions for a Dask frame) returned as Dask series computed
partition by partition. Variance components, ranef, vcov, summary and Wald intervals are
the in-memory classes' own (they need no rows)."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedfx.distributed import glm_replicates, is_distributed_data, replicates
from mixedfx.distributed.frame import as_dask_frame
from mixedfx.errors import ArgumentError, DataError, UnsupportedError
from mixedfx.fitted.predict import fixed_matrix, prepare_newdata, term_contribution
from mixedfx.glmm.response import encode_response
from mixedfx.inference.bootstrap import bootstrap
from mixedfx.lmm.fit import fit_lmm_crossproducts
from mixedfx.results.glmm_model import GeneralizedLinearMixedModel
from mixedfx.results.lmm_model import LinearMixedModel
from mixedfx.validate import check_bool, check_positive_int

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import MixedFit


class RowPredictor:
    """The small part of a fitted model needed to compute η for a partition's rows:
    design specs, levels, β and the random effects (no rows, no factorization)."""

    def __init__(self, model: MixedFit) -> None:
        frame = model.frame
        self.frame = replace(frame, data=None, encoder=None)
        self.encoder = frame.encoder
        self.beta = np.asarray(model.beta, dtype=float)
        self.b = [np.asarray(b) for b in model.random_effects]
        self.sigma = float(model.sigma) if model.has_scale else 1.0

    def training_eta(self, part: pd.DataFrame) -> tuple[pd.Series, Any]:
        """η of the partition's rows used in the fit (rows with missing values omitted)."""
        enc = self.encoder.encode(part)
        if enc is None:
            return pd.Series([], dtype=float, index=part.index[:0]), None
        eta = enc.X @ self.beta
        if enc.offset is not None:
            eta = eta + enc.offset
        for t, b in zip(enc.terms, self.b, strict=True):
            eta = eta + t.row_effects(b)
        return pd.Series(eta, index=enc.index), enc

    def new_eta(self, part: pd.DataFrame, re_form_groups: set[str],
                allow_new_levels: bool) -> pd.Series:
        """η of new rows (predict), encoded as the training data."""
        if len(part) == 0:
            return pd.Series([], dtype=float, index=part.index)
        new = prepare_newdata(self.frame, part)
        eta = fixed_matrix(self.frame, new) @ self.beta + self.frame.new_offset(new.raw)
        for t, b in zip(self.frame.terms, self.b, strict=True):
            if t.group_name in re_form_groups:
                eta = eta + term_contribution(t, b, new, allow_new_levels)
        return pd.Series(eta, index=part.index)


def _fitted_partition(part: pd.DataFrame, predictor: RowPredictor) -> pd.Series:
    return predictor.training_eta(part)[0]


def _residual_partition(part: pd.DataFrame, predictor: RowPredictor, kind: str,
                        scale: float) -> pd.Series:
    eta, enc = predictor.training_eta(part)
    if enc is None:
        return eta
    r = enc.y - eta.to_numpy()
    if kind == "pearson" and enc.weights is not None:
        r = r * np.sqrt(enc.weights)
    return pd.Series(r / scale, index=eta.index)


def _predict_partition(part: pd.DataFrame, predictor: RowPredictor, groups: set[str],
                       allow_new_levels: bool) -> pd.Series:
    return predictor.new_eta(part, groups, allow_new_levels)


class DaskReplicates:
    """The parametric bootstrap of a Dask fit (lme4's `bootMer`), shared by the lmer and
    glmer results: replicates run on a Dask cluster, made by `_replicate_bootstrap`."""

    def bootstrap(self, func: Any = None, nsim: int = 100, seed: int | None = None,
                  n_jobs: int = 1, use_u: bool = False, client: Any = None) -> Any:
        """Parametric bootstrap on the cluster (see `_replicate_bootstrap` of the model).
        `client=`: the cluster (default: the fit's Client while it runs, else a new local
        cluster)."""
        nsim = check_positive_int(nsim, "nsim")
        check_positive_int(n_jobs, "n_jobs")
        self._boot_client = client
        try:
            return bootstrap(self, func, nsim=nsim, seed=seed, n_jobs=n_jobs, use_u=use_u)
        finally:
            self._boot_client = None

    def distributed_bootstrap(self, func: Any, nsim: int, seed: int | None, n_jobs: int,
                               use_u: bool) -> Any:
        """`inference.bootstrap.bootstrap` (and `confint(method="boot")`) of a Dask fit."""
        if n_jobs != 1:
            raise ArgumentError("n_jobs is for in-memory fits: a Dask fit's bootstrap "
                                "replicates run on its Dask cluster (client=)")
        self._require_data("bootstrap()")
        client = getattr(self, "_boot_client", None)
        if client is None:
            client = self._running_client()
        return self._replicate_bootstrap(func, nsim, seed, check_bool(use_u, "use_u"),
                                         client)

    def _require_data(self, what: str) -> None:
        if self._frame.data is None:
            raise ArgumentError(f"{what} needs the model's Dask data; this model (a bootstrap "
                                "replicate) has none")

    def _remember_client(self, client: Any) -> None:
        """Keep the fit's Client or scheduler address: `bootstrap` and `profile` use that
        cluster by default while it runs (a local cluster started for the fit is closed)."""
        from distributed import Client  # dask is optional (the `dask` extra): imported when used

        if isinstance(client, (Client, str)):
            self._client = client

    def _running_client(self) -> Any:
        """The fit's Client (or scheduler address) while it runs, else None."""
        client = getattr(self, "_client", None)
        if client is not None and getattr(client, "status", "running") != "running":
            return None
        return client

    def _replicate_bootstrap(self, func: Any, nsim: int, seed: int | None, use_u: bool,
                             client: Any) -> Any:
        raise NotImplementedError

    def save(self, path: Any) -> Any:
        """Refused: a model file stores the rows a fit used (to rebuild the model through
        the fitting code), and a Dask fit keeps its rows on the cluster. Pickle the model
        instead (estimates, vcov, summary and predict on new data work on the unpickled
        model; fitted values and residuals need the Dask data)."""
        raise DataError(
            f"cannot save a model fitted to Dask data to {str(path)!r}: a mixedfx model file "
            "stores the rows the fit used, and this fit's rows live on the Dask cluster. "
            "Use pickle.dump(model, file) instead (summary, vcov and predict(newdata) work on "
            "the unpickled model), or fit an in-memory subset to save it")

    def __getstate__(self) -> dict[str, Any]:
        """A pickled Dask fit (sent to a worker) carries no Client."""
        state = dict(self.__dict__)
        state.pop("_client", None)
        state.pop("_boot_client", None)
        return state


class DaskLinearMixedModel(DaskReplicates, LinearMixedModel):
    """A `LinearMixedModel` fitted to Dask data (`mixedfx.lmer(formula, data=ddf)`)."""

    distributed_passes: int = 2
    timings: dict[str, float] | None = None     # seconds: the two passes, the optimization

    @property
    def optimizer_info(self) -> dict[str, Any]:
        info = dict(super().optimizer_info)
        info["distributed_passes"] = self.distributed_passes
        if self.timings:
            info["timings"] = dict(self.timings)
        return info

    def _predictor(self) -> RowPredictor:
        return RowPredictor(self)

    def fitted(self) -> Any:
        """Fitted values as a Dask series (one value per row used in the fit)."""
        ddf = self._frame.data
        return ddf.map_partitions(_fitted_partition, self._predictor(),
                                  meta=pd.Series([], dtype=float))

    def residuals(self, type: str = "response", scaled: bool = False) -> Any:
        """Residuals as a Dask series: `response`/`working` y − μ, `pearson`/`deviance`
        √w (y − μ); divided by σ when `scaled`."""
        if type in ("response", "working"):
            kind = "response"
        elif type in ("pearson", "deviance", "normalized"):
            kind = "pearson"
            scaled = scaled or type == "normalized"
        else:
            raise ArgumentError("type must be 'response', 'pearson', 'deviance', 'working' or "
                                "'normalized'")
        scale = self.sigma if scaled else 1.0
        return self._frame.data.map_partitions(_residual_partition, self._predictor(), kind,
                                               scale, meta=pd.Series([], dtype=float))

    def predict(self, newdata: object = None, re_form: str | None = None,
                allow_new_levels: bool = False, type: str = "link") -> Any:
        """Predictions: a Dask series for a Dask frame (or for the training data when
        `newdata` is None), an array for in-memory new data."""
        if type not in ("link", "response"):
            raise ArgumentError("type must be 'link' or 'response'")
        if newdata is not None and not is_distributed_data(newdata):
            return super().predict(newdata, re_form=re_form,
                                   allow_new_levels=allow_new_levels, type=type)
        if newdata is None and re_form is None:
            return self.fitted()
        ddf = self._frame.data if newdata is None else as_dask_frame(newdata)
        groups = self._terms_in(re_form)
        return ddf.map_partitions(_predict_partition, self._predictor(), groups,
                                  allow_new_levels, meta=pd.Series([], dtype=float))

    def _refit(self, frame: Any, reml: bool) -> Any:
        """Refit with the other criterion (ML <-> REML) from the stored cross-products."""
        if frame is not self._frame:
            raise UnsupportedError("refitting a Dask fit to a new response is not "
                                      "available; fit the new response with mixedfx.lmer")
        return fit_lmm_crossproducts(frame, self._fit.chol.xp, reml, self._control,
                                     ldW=self._fit.objective.ldW, start=self._fit.theta)

    def simulate(self, nsim: int = 1, seed: int | None = None, use_u: bool = False) -> Any:
        """Simulated responses as a lazy Dask DataFrame (columns sim_1 … sim_nsim, one row
        per row used in the fit), made partition by partition on the workers from `seed`
        (`mixedfx.distributed.replicates`: same distribution as the in-memory `simulate`,
        reproducible per seed and partitioning, not the in-memory random stream)."""
        nsim = check_positive_int(nsim, "nsim")
        self._require_data("simulate()")
        return replicates.simulate(self, nsim, seed, check_bool(use_u, "use_u"))

    def _replicate_bootstrap(self, func: Any, nsim: int, seed: int | None, use_u: bool,
                             client: Any) -> Any:
        """Each replicate's response is made on the workers partition by partition (the
        responses of `simulate(nsim, seed)`), its cross-products reduced like the fit's,
        and θ refitted from them (on the workers, or on the driver when B is kept sliced on
        its disk)."""
        return replicates.bootstrap(self, func, nsim, seed, use_u,
                                    partial(_lmm_replicate, self._control), client=client)

    def cluster_map(self) -> Any:
        """`profile`'s mapper: one parameter per task on the fit's Client while it runs
        (None: profile on the driver, as in memory; the profile needs no rows)."""
        client = getattr(self, "_client", None)
        if client is None or isinstance(client, str) or \
                getattr(client, "status", None) != "running":
            return None

        def mapper(fn: Any, *iterables: Any) -> list[Any]:
            return client.gather(client.map(fn, *iterables, pure=False))
        return mapper

    def summary(self, ddf: str | None = "Satterthwaite") -> Any:
        """lme4's summary with lmerTest's Satterthwaite t tests (Kenward-Roger needs the rows
        and is refused)."""
        if ddf is not None and ddf.lower().replace("_", "-") in ("kenward-roger", "kr"):
            raise UnsupportedError(_ROWS_NEEDED.format("Kenward-Roger"))
        return super().summary(ddf=ddf)

    def anova(self, *args: Any, **kwargs: Any) -> Any:
        raise UnsupportedError(_ROWS_NEEDED.format("anova()"))

    def drop1(self, *args: Any, **kwargs: Any) -> Any:
        raise UnsupportedError(_ROWS_NEEDED.format("drop1()"))

    def ranova(self, *args: Any, **kwargs: Any) -> Any:
        raise UnsupportedError(_ROWS_NEEDED.format("ranova()"))



def _lmm_replicate(control: Any, frame: Any, fit: Any) -> DaskLinearMixedModel:
    """A bootstrap replicate's model: its refit on the fit's frame (without the data)."""
    return DaskLinearMixedModel(frame, fit, control, data_name=None)


_ROWS_NEEDED = ("{} of a Dask fit is not available yet (it needs the model's rows on the "
                "driver); fit a subset in memory for it")


def _glm_fitted_partition(part: pd.DataFrame, predictor: RowPredictor,
                          family: Any) -> pd.Series:
    eta = predictor.training_eta(part)[0]
    return pd.Series(family.link.linkinv(eta.to_numpy()), index=eta.index)


def _glm_residual_partition(part: pd.DataFrame, predictor: RowPredictor, family: Any,
                            kind: str) -> pd.Series:
    eta_s, enc = predictor.training_eta(part)
    if enc is None:
        return eta_s
    resp = encode_response(enc.y, family, enc.weights)
    eta = eta_s.to_numpy()
    mu = family.link.linkinv(eta)
    y, wt = resp.y, resp.wt
    if kind == "response":
        r = y - mu
    elif kind == "pearson":
        r = (y - mu) * np.sqrt(wt) / np.sqrt(family.variance(mu))
    elif kind == "working":
        r = (y - mu) / family.link.mu_eta(eta)
    else:
        d = family.dev_resids(y, mu, wt)
        r = np.sign(y - mu) * np.sqrt(np.maximum(d, 0.0))
    return pd.Series(r, index=eta_s.index)


def _glm_predict_partition(part: pd.DataFrame, predictor: RowPredictor, groups: set[str],
                           allow_new_levels: bool, family: Any, response: bool) -> pd.Series:
    eta = predictor.new_eta(part, groups, allow_new_levels)
    return pd.Series(family.link.linkinv(eta.to_numpy()), index=eta.index) if response \
        else eta


class DaskGeneralizedLinearMixedModel(DaskReplicates, GeneralizedLinearMixedModel):
    """A `GeneralizedLinearMixedModel` fitted to Dask data (`mixedfx.glmer(..., ddf)`);
    `optimizer_info["distributed_passes"]` counts the passes over the data."""

    distributed_passes: int = 0

    @property
    def optimizer_info(self) -> dict[str, Any]:
        info = dict(super().optimizer_info)
        info["distributed_passes"] = self.distributed_passes
        return info

    def fitted(self) -> Any:
        """Fitted means μ as a Dask series."""
        return self._frame.data.map_partitions(
            _glm_fitted_partition, RowPredictor(self), self.family,
            meta=pd.Series([], dtype=float))

    def residuals(self, type: str = "deviance", scaled: bool = False) -> Any:
        """Residuals as a Dask series (`deviance`, `pearson`, `response`, `working`)."""
        if type not in ("deviance", "pearson", "response", "working"):
            raise ArgumentError("type must be 'deviance', 'pearson', 'response' or "
                                "'working'")
        if scaled and self.family.has_dispersion:
            raise ArgumentError("scaled residuals are for models with a scale parameter")
        # (binomial, Poisson, negative binomial with fixed θ: σ = 1, scaled = unscaled)
        return self._frame.data.map_partitions(
            _glm_residual_partition, RowPredictor(self), self.family, type,
            meta=pd.Series([], dtype=float))

    def predict(self, newdata: object = None, re_form: str | None = None,
                allow_new_levels: bool = False, type: str = "link") -> Any:
        """Predictions on the link or response scale: a Dask series for Dask data (or
        the training data when `newdata` is None), an array for in-memory new data."""
        if type not in ("link", "response"):
            raise ArgumentError("type must be 'link' or 'response'")
        if newdata is not None and not is_distributed_data(newdata):
            return super().predict(newdata, re_form=re_form,
                                   allow_new_levels=allow_new_levels, type=type)
        ddf = self._frame.data if newdata is None else as_dask_frame(newdata)
        return ddf.map_partitions(
            _glm_predict_partition, RowPredictor(self), self._terms_in(re_form),
            allow_new_levels, self.family, type == "response",
            meta=pd.Series([], dtype=float))

    def simulate(self, nsim: int = 1, seed: int | None = None, use_u: bool = False
                 ) -> Any:
        """Simulated responses as a lazy Dask DataFrame (columns sim_1 … sim_nsim, one row
        per row used in the fit), drawn on the workers partition by partition from `seed`
        (`mixedfx.distributed.replicates`: the in-memory model's distribution, reproducible
        per seed and partitioning, not the in-memory random stream)."""
        nsim = check_positive_int(nsim, "nsim")
        self._require_data("simulate()")
        return glm_replicates.glm_simulate(self, nsim, seed, check_bool(use_u, "use_u"))

    def _replicate_bootstrap(self, func: Any, nsim: int, seed: int | None, use_u: bool,
                             client: Any) -> Any:
        """Each replicate's response is drawn on the workers partition by partition (the
        responses of `simulate(nsim, seed)`) and refitted there by the distributed PIRLS
        from (θ̂, β̂), one replicate after another."""
        return glm_replicates.glm_bootstrap(
            self, func, nsim, seed, use_u,
            partial(_glmm_replicate, self.family, self._resp, self._control), client=client)

    def profile_objective(self) -> Any:
        """`profile`'s objective: the Laplace deviance evaluated by the distributed PIRLS
        over the model's data on the fit's Client while it runs (else a new local
        cluster), one evaluation after another on the driver."""
        self._require_data("profile()")
        return glm_replicates.live_objective(self, self._running_client())


def _glmm_replicate(family: Any, resp: Any, control: Any, frame: Any, fit: Any
                    ) -> DaskGeneralizedLinearMixedModel:
    """A bootstrap replicate's model: its refit on the fit's frame (without the data)."""
    return DaskGeneralizedLinearMixedModel(frame, family, resp, fit, control)
