"""Saving and loading fitted models in a documented, versioned, code-free format.

`model.save(path)` writes one `.npz` file (a zip of `.npy` arrays, readable with
`numpy.load(path, allow_pickle=False)`; no pickled Python objects, no code):

* `meta.json` — a uint8 array holding UTF-8 JSON:
    `format` ("mixedfx-fit"), `version` (FORMAT_VERSION), `mixedfx_version`, `kind` ("lmer" or
    "glmer"), `formula`, `REML`, `family` / `link` / `nb_theta` (GLMMs), `nAGQ`, `control`
    (every `Control` field), `data_name`, `na_action`, `n_dropped`, `offset_column`,
    `columns` (for each column of the model frame: `name`, `kind` in
    float/int/bool/str/category, `categories` and `ordered` for categories),
    `optimization` (the optimizer records: fun, evaluations, optimizer, return_code,
    converged, messages per stage), `messages` (the fit's warnings).
* `col/<i>` — the model frame's columns (rows used by the fit; categories as integer codes);
* `weights`, `offset` — prior weights and the total offset (formula `offset()` terms plus the
  `offset=` argument), if any;
* `theta` — θ̂; for GLMMs also `beta`, `u/<t>` (spherical modes per term), `objective`,
  `gradient`, `hessian` (when computed) and the stage-1 / stage-2 optimizer end points.

`mixedfx.load(path)` rebuilds the model frame from the stored rows with the stored formula and
settings and evaluates the model at the stored estimates without optimizing: an LMM is
refactorized at θ̂ (β, u, σ follow exactly), a GLMM's state is evaluated at the stored
(θ̂, β̂, u) with the stored Hessian behind vcov(β). Summaries and predictions of a loaded model
are identical to the original's.
"""

from __future__ import annotations

import io
import json
import math
import warnings
import zipfile
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.errors import DataError

FORMAT = "mixedfx-fit"
FORMAT_VERSION = 1


# -- writing --------------------------------------------------------------------------------
def _column_arrays(df: pd.DataFrame) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    meta, arrays = [], {}
    for i, name in enumerate(df.columns):
        s = df[name]
        entry: dict[str, Any] = {"name": name}
        if isinstance(s.dtype, pd.CategoricalDtype):
            entry.update(kind="category", categories=[str(c) for c in s.cat.categories],
                         ordered=bool(s.cat.ordered))
            arr = s.cat.codes.to_numpy(dtype=np.int64)
        elif pd.api.types.is_bool_dtype(s.dtype):
            entry["kind"] = "bool"
            arr = s.to_numpy(dtype=bool)
        elif pd.api.types.is_integer_dtype(s.dtype):
            entry["kind"] = "int"
            arr = s.to_numpy(dtype=np.int64)
        elif pd.api.types.is_numeric_dtype(s.dtype):
            entry["kind"] = "float"
            arr = s.to_numpy(dtype=float)
        else:
            entry["kind"] = "str"
            arr = np.array([str(v) for v in s], dtype=str)
        meta.append(entry)
        arrays[f"col/{i}"] = arr
    return meta, arrays


def _opt_record(opt: Any, prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, Any] | None:
    if opt is None:
        return None
    arrays[f"{prefix}/x"] = np.asarray(opt.x, dtype=float)
    for name in ("gradient", "hessian"):
        value = getattr(opt, name)
        if value is not None:
            arrays[f"{prefix}/{name}"] = np.asarray(value, dtype=float)
    return {"fun": _num(opt.fun), "evaluations": int(opt.evaluations),
            "optimizer": opt.optimizer, "return_code": opt.return_code,
            "converged": bool(opt.converged), "messages": list(opt.messages)}


def _num(v: float) -> float | str:
    return v if math.isfinite(v) else repr(v)


def save_model(model: Any, path: str | Path) -> Path:
    """Write `model` (an lmer, glmer or glmer_nb fit) to `path` (".npz" is appended if
    missing). Returns the path written."""
    from mixedfx import __version__
    from mixedfx.results.glmm_model import GeneralizedLinearMixedModel

    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    frame = model._frame
    cols, arrays = _column_arrays(frame.frame)
    if frame.weights is not None:
        arrays["weights"] = np.asarray(frame.weights, dtype=float)
    if frame.offset is not None:
        arrays["offset"] = np.asarray(frame.offset, dtype=float)
    fit = model._fit
    arrays["theta"] = np.asarray(fit.theta, dtype=float)
    meta: dict[str, Any] = {
        "format": FORMAT, "version": FORMAT_VERSION, "mixedfx_version": __version__,
        "formula": model.formula, "columns": cols, "data_name": model.data_name,
        "n_dropped": int(frame.n_dropped), "offset_column": frame.offset_column,
        "control": asdict(model._control), "messages": list(fit.messages),
    }
    if isinstance(model, GeneralizedLinearMixedModel):
        fam = model.family
        meta.update(kind="glmer", family=fam.name, link=fam.link.name, nb_theta=fam.theta,
                    nAGQ=int(fit.nagq), objective=_num(float(fit.objective_value)),
                    optimization={"stage1": _opt_record(fit.stage1, "stage1", arrays),
                                  "stage2": _opt_record(fit.stage2, "stage2", arrays)})
        arrays["beta"] = np.asarray(fit.beta, dtype=float)
        for t, u in enumerate(fit.state.u):
            arrays[f"u/{t}"] = np.asarray(u, dtype=float)
        if fit.gradient is not None:
            arrays["gradient"] = np.asarray(fit.gradient, dtype=float)
        if fit.hessian is not None:
            arrays["hessian"] = np.asarray(fit.hessian, dtype=float)
    else:
        meta.update(kind="lmer", REML=bool(fit.reml),
                    optimization={"stage1": _opt_record(fit.optimization, "opt", arrays)})
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays,
                        **{"meta.json": np.frombuffer(json.dumps(meta).encode(), np.uint8)})
    path.write_bytes(buf.getvalue())
    return path


# -- reading --------------------------------------------------------------------------------
def _frame_from(meta: dict[str, Any], arrays: Any) -> pd.DataFrame:
    data = {}
    for i, c in enumerate(meta["columns"]):
        arr = arrays[f"col/{i}"]
        if c["kind"] == "category":
            data[c["name"]] = pd.Categorical.from_codes(arr, categories=c["categories"],
                                                        ordered=c["ordered"])
        elif c["kind"] == "str":
            data[c["name"]] = pd.Series(arr.tolist(), dtype=object)
        else:
            data[c["name"]] = arr
    return pd.DataFrame(data)


def _float(v: Any) -> float:
    return float(v) if not isinstance(v, str) else float(v.replace("inf", "Infinity")
                                                          .replace("Infinity", "inf"))


def _opt_from(rec: dict[str, Any] | None, prefix: str, arrays: Any) -> Any:
    from mixedfx.optimize import OptimizationResult

    if rec is None:
        return None
    def get(k: str) -> np.ndarray | None:
        return arrays[f"{prefix}/{k}"] if f"{prefix}/{k}" in arrays.files else None

    return OptimizationResult(x=get("x"), fun=_float(rec["fun"]), evaluations=rec["evaluations"],
                              optimizer=rec["optimizer"], return_code=rec["return_code"],
                              converged=rec["converged"], gradient=get("gradient"),
                              hessian=get("hessian"), messages=list(rec["messages"]))


def load_model(path: str | Path) -> Any:
    """Read a model written by `save` (see the module docstring for the format)."""
    from mixedfx.frame.model_frame import build_model_frame
    from mixedfx.optimize import Control
    from mixedfx.optimize.threads import blas_threads_for

    try:
        arrays = np.load(Path(path), allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read a mixedfx model from {str(path)!r}: {exc}") from None
    if "meta.json" not in arrays.files:
        raise DataError(f"{str(path)!r} is not a mixedfx model file (no meta.json)")
    meta = json.loads(arrays["meta.json"].tobytes().decode())
    if meta.get("format") != FORMAT:
        raise DataError(f"{str(path)!r} is not a mixedfx model file")
    if meta.get("version", 0) > FORMAT_VERSION:
        raise DataError(f"{str(path)!r} has format version {meta['version']}; this mixedfx "
                        f"reads versions up to {FORMAT_VERSION} (upgrade mixedfx)")
    df = _frame_from(meta, arrays)
    weights = arrays["weights"] if "weights" in arrays.files else None
    offset = arrays["offset"] if "offset" in arrays.files else None
    glm = meta["kind"] == "glmer"
    known = {f.name for f in fields(Control)}
    control = Control(**{k: v for k, v in meta["control"].items() if k in known})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # the fit's warnings were given when it was fitted
        frame = build_model_frame(meta["formula"], df, weights=weights, glm=glm)
    frame.offset = offset          # the total offset (formula terms and offset=) as fitted
    frame.n_dropped = meta["n_dropped"]
    frame.offset_column = meta["offset_column"]
    theta = arrays["theta"]
    dense = sum(t.q for t in frame.terms[1:]) + frame.X.shape[1] + 1
    with blas_threads_for(dense):
        if glm:
            return _glmm_at(frame, meta, arrays, control, theta)
        return _lmm_at(frame, meta, arrays, control, theta)


def _lmm_at(frame: Any, meta: dict[str, Any], arrays: Any, control: Any, theta: np.ndarray
            ) -> Any:
    from mixedfx.lmm.deviance import deviance_from_factor
    from mixedfx.lmm.fit import LmmFit, build_objective, lower_bounds
    from mixedfx.lmm.solution import solve
    from mixedfx.results.lmm_model import LinearMixedModel

    reml = bool(meta["REML"])
    objective = build_objective(frame, reml)
    factor = objective.chol.factorize(theta, objective.release_workspace())
    if factor is None:
        raise DataError("the stored theta does not give a positive definite system for the "
                        "stored data (corrupted file?)")
    solution = solve(objective.chol, factor)
    n, p = objective.n, objective.p
    sigma = math.sqrt(factor.pwrss / (n - p if reml else n))
    criterion = deviance_from_factor(factor, n, p, reml, objective.ldW)
    opt = _opt_from(meta["optimization"]["stage1"], "opt", arrays)
    fit = LmmFit(chol=objective.chol, objective=objective, optimization=opt, factor=factor,
                 solution=solution, theta=theta, lower=lower_bounds(frame), sigma=sigma,
                 reml=reml, criterion=criterion, messages=list(meta["messages"]))
    return LinearMixedModel(frame, fit, control, data_name=meta["data_name"])


def _glmm_at(frame: Any, meta: dict[str, Any], arrays: Any, control: Any, theta: np.ndarray
             ) -> Any:
    from mixedfx.families import family_from, negative_binomial
    from mixedfx.glmm.fit import GlmmFit, ThetaTemplates
    from mixedfx.glmm.objective import GlmmObjective
    from mixedfx.glmm.pirls import Pirls
    from mixedfx.glmm.response import encode_response
    from mixedfx.lmm.fit import lower_bounds
    from mixedfx.results.glmm_model import GeneralizedLinearMixedModel

    if meta["family"] == "negative.binomial":
        family = negative_binomial(meta["nb_theta"], meta["link"])
    else:
        family = family_from(meta["family"], meta["link"])
    resp = encode_response(frame.y, family, frame.weights)
    pirls = Pirls(frame.X, frame.terms, family, resp, frame.offset)
    templates = ThetaTemplates(frame.terms)
    beta = arrays["beta"]
    u = [arrays[f"u/{t}"] for t in range(len(frame.terms))]
    state = pirls.evaluate(u, beta, templates(theta))
    state.templates = templates(theta)
    nagq = int(meta["nAGQ"])
    objective = GlmmObjective(pirls, templates, len(theta), nagq, state)
    def get(k: str) -> np.ndarray | None:
        return arrays[k] if k in arrays.files else None

    opt = meta["optimization"]
    fit = GlmmFit(theta=theta, beta=beta, lower=lower_bounds(frame), state=state,
                  objective_value=_float(meta["objective"]), nagq=nagq,
                  stage1=_opt_from(opt["stage1"], "stage1", arrays),
                  stage2=_opt_from(opt["stage2"], "stage2", arrays), gradient=get("gradient"),
                  hessian=get("hessian"), messages=list(meta["messages"]), pirls=pirls,
                  objective=objective)
    return GeneralizedLinearMixedModel(frame, family, resp, fit, control,
                                       data_name=meta["data_name"])
