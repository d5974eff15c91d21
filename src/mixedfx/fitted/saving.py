"""Saving fitted models in a documented, versioned, code-free format (the writing half;
`mixedfx.loading` reads the files back).

`model.save(path)` writes one `.npz` file (a zip of `.npy` arrays, readable with
`numpy.load(path, allow_pickle=False)`; no pickled Python objects, no code) holding what the
fit needs to rebuild itself — the rows it used, its call and its estimates:

* `meta.json` — a uint8 array holding UTF-8 JSON: `format` ("mixedfx-fit"), `version`
  (FORMAT_VERSION), `mixedfx_version`, `kind` ("lmer", "glmer", "gls", "lm", "glm" or "mmrm"),
  `formula`, `nobs`, `columns` (per model-frame column: `name`, `kind` in
  float/int/bool/str/category/datetime, `categories` and `ordered` for categories, `unit`
  and `tz` for datetimes, stored as integer ticks; a column of any other type is refused
  at save rather than stored as text), `data_name`,
  `n_dropped`, `offset_column`, `weights` / `offset` (whether those arrays are stored),
  `messages` (the fit's warnings) and per kind: `REML`, `residual` (the nlme variance function
  and correlation structure: nlme name and form), `criterion`, `sigma`, `control` (every `Control`
  field), `optimization` (the optimizer records); GLMMs `family`, `link`, `nb_theta`, `nAGQ`,
  `dispersion` (φ̂ of an ML dispersion, else null), `objective`, `gradient` / `hessian`
  (whether stored); lm / glm `call` (and `family`, `link`); mmrm `REML`, `method`, `vcov`,
  `criterion` (−2ℓ), `n_subjects_data` (subjects in the data, for SAS's BIC), `evaluations`.
* `col/<i>` — the model frame's columns (rows used by the fit; categories as integer codes);
  `weights`, `offset` — prior weights and the total offset, if any;
* the estimates: `theta`, `beta`, `psi` (residual-structure parameters), `u/<t>` (GLMM
  spherical modes per term), `eta` (GLMM linear predictor), `gradient`, `hessian`, and the
  optimizer end points (`opt/x`, `stage1/x`, `stage2/x`, with their `gradient` / `hessian`
  when computed);
* `sha256` — the SHA-256 of the canonical content (`fitted.model_file`).

The JSON fields of each kind are declared once, in `COMMON_FIELDS` and `KIND_FIELDS`: the
writer refuses to write a record whose fields differ from them, and the loader
(`mixedfx.loading`) refuses a file whose fields differ, so the two cannot drift apart. A model
class is saveable when it mixes in `Saveable` and names its kind in `kind`.

`mixedfx.load(path)` reads the file with bounded memory, validates every field, verifies the
checksum, and rebuilds the model at the stored estimates (see `mixedfx.loading`).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentTypeError, DataError
from mixedfx.fitted.model_file import write_container
from mixedfx.version import __version__

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import FittedModel

FORMAT = "mixedfx-fit"
FORMAT_VERSION = 2
KINDS = ("lmer", "glmer", "gls", "lm", "glm", "mmrm")
COMMON_FIELDS = frozenset({"format", "version", "mixedfx_version", "kind", "formula", "nobs",
                           "columns", "data_name", "n_dropped", "offset_column", "weights",
                           "offset", "messages"})
KIND_FIELDS = {
    "lmer": frozenset({"control", "REML", "criterion", "sigma", "residual", "optimization"}),
    "gls": frozenset({"control", "REML", "criterion", "sigma", "residual", "optimization"}),
    "glmer": frozenset({"control", "family", "link", "nb_theta", "nAGQ", "objective",
                        "dispersion", "gradient", "hessian", "optimization"}),
    "lm": frozenset({"call"}),
    "glm": frozenset({"call", "family", "link"}),
    "mmrm": frozenset({"REML", "method", "vcov", "criterion", "n_subjects_data",
                       "evaluations"}),
}


# -- writing --------------------------------------------------------------------------------
def _category_label(c: Any) -> Any:
    """A category label as JSON keeps it: ints and floats stay numbers, others text."""
    if isinstance(c, (bool, np.bool_)):
        return str(c)
    if isinstance(c, (int, np.integer)):
        return int(c)
    if isinstance(c, (float, np.floating)) and math.isfinite(c):
        return float(c)
    return str(c)


def _column_arrays(df: pd.DataFrame) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    meta, arrays = [], {}
    for i, name in enumerate(df.columns):
        s = df[name]
        entry: dict[str, Any] = {"name": str(name)}
        if isinstance(s.dtype, pd.CategoricalDtype):
            entry.update(kind="category", ordered=bool(s.cat.ordered),
                         categories=[_category_label(c) for c in s.cat.categories])
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
        elif isinstance(s.dtype, pd.DatetimeTZDtype) or \
                pd.api.types.is_datetime64_dtype(s.dtype):
            # a datetime grouping column keeps its type: integer ticks of its unit, time zone
            unit = np.datetime_data(s.dtype.base if hasattr(s.dtype, "base") else s.dtype)[0]
            entry.update(kind="datetime", unit=unit,
                         tz=None if s.dt.tz is None else str(s.dt.tz))
            arr = np.asarray(s.array.asi8, dtype=np.int64)
        elif pd.api.types.is_string_dtype(s.dtype) and all(isinstance(v, str) for v in s):
            entry["kind"] = "str"
            arr = np.array(s.tolist(), dtype=str)
        else:
            raise DataError(
                f"cannot save the model: column {str(name)!r} is a {s.dtype} column holding "
                f"{', '.join(sorted({type(v).__name__ for v in s}))} values, which a model "
                "file cannot keep with their type; convert it (e.g. to strings or a "
                "categorical) before fitting")
        meta.append(entry)
        arrays[f"col/{i}"] = arr
    return meta, arrays


def num(v: float) -> float | str:
    """A float for JSON: non-finite values as the strings "inf", "-inf", "nan"."""
    v = float(v)
    return v if math.isfinite(v) else repr(v)


def _opt_record(opt: Any, prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, Any] | None:
    if opt is None:
        return None
    arrays[f"{prefix}/x"] = np.asarray(opt.x, dtype=float)
    rec = {"fun": num(opt.fun), "evaluations": int(opt.evaluations),
           "optimizer": str(opt.optimizer), "return_code": str(opt.return_code),
           "converged": bool(opt.converged), "messages": [str(m) for m in opt.messages]}
    for name in ("gradient", "hessian"):
        value = getattr(opt, name)
        rec[name] = value is not None
        if value is not None:
            arrays[f"{prefix}/{name}"] = np.asarray(value, dtype=float)
    return rec


def _structure_spec(obj: Any) -> dict[str, str] | None:
    return None if obj is None else {"name": obj.name, "form": obj.form.text}


def _residual_meta(fit: Any, arrays: dict[str, np.ndarray]) -> dict[str, Any] | None:
    residual = getattr(fit, "residual", None)
    if residual is None:
        return None
    arrays["psi"] = np.asarray(fit.psi, dtype=float)
    return {"weights": _structure_spec(residual.var.func if residual.var else None),
            "correlation": _structure_spec(residual.cor.struct if residual.cor else None)}


def _kind(model: FittedModel) -> str:
    kind = getattr(type(model), "kind", None)
    if kind not in KINDS:
        raise DataError(f"cannot save a {type(model).__name__}: model files hold lmer, glmer, "
                        "glmer_nb, gls, lm, glm and mmrm fits")
    return kind


def _kind_meta(model: FittedModel, kind: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    fit = getattr(model, "engine_fit", None)
    if kind == "mmrm":
        arrays["theta"] = np.asarray(fit.state.theta, dtype=float)
        arrays["beta"] = np.asarray(fit.state.beta, dtype=float)
        return {"messages": [], "REML": bool(fit.reml), "method": model.method,
                "vcov": model.vcov_method, "criterion": num(fit.state.deviance),
                "n_subjects_data": model.n_subjects_data,
                "evaluations": int(fit.n_evaluations)}
    if kind in ("lm", "glm"):
        arrays["beta"] = np.asarray(model.beta, dtype=float)
        out: dict[str, Any] = {"call": model.call, "messages": []}
        if kind == "glm":
            out.update(family=model.family.name, link=model.family.link.name)
        return out
    out = {"control": asdict(model.control), "messages": [str(m) for m in fit.messages]}
    if kind == "glmer":
        fam = model.family
        out.update(family=fam.name, link=fam.link.name,
                   nb_theta=None if fam.theta is None else float(fam.theta),
                   nAGQ=int(fit.nagq), objective=num(fit.objective_value),
                   dispersion=None if fit.dispersion is None else float(fit.dispersion),
                   gradient=fit.gradient is not None, hessian=fit.hessian is not None,
                   optimization={"stage1": _opt_record(fit.stage1, "stage1", arrays),
                                 "stage2": _opt_record(fit.stage2, "stage2", arrays)})
        arrays["theta"] = np.asarray(fit.theta, dtype=float)
        arrays["beta"] = np.asarray(fit.beta, dtype=float)
        arrays["eta"] = np.asarray(fit.state.eta, dtype=float)
        for t, u in enumerate(fit.state.u):
            arrays[f"u/{t}"] = np.asarray(u, dtype=float)
        for name in ("gradient", "hessian"):
            if getattr(fit, name) is not None:
                arrays[name] = np.asarray(getattr(fit, name), dtype=float)
        return out
    out.update(REML=bool(fit.reml), criterion=num(fit.criterion), sigma=num(fit.sigma),
               residual=_residual_meta(fit, arrays),
               optimization={"stage1": _opt_record(fit.optimization, "opt", arrays)})
    arrays["beta"] = np.asarray(fit.solution.beta, dtype=float)
    if kind == "lmer":
        arrays["theta"] = np.asarray(fit.theta, dtype=float)
    return out


def save_model(model: FittedModel, path: str | Path) -> Path:
    """Write `model` (an lmer, glmer, glmer_nb, gls, lm, glm or mmrm fit) to `path` (".npz" is
    appended if missing). Returns the path written."""
    kind = _kind(model)
    path = check_path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    frame = model.frame
    cols, arrays = _column_arrays(frame.frame)
    if frame.weights is not None:
        arrays["weights"] = np.asarray(frame.weights, dtype=float)
    if frame.offset is not None:
        arrays["offset"] = np.asarray(frame.offset, dtype=float)
    meta: dict[str, Any] = {
        "format": FORMAT, "version": FORMAT_VERSION, "mixedfx_version": __version__,
        "kind": kind, "formula": model.formula, "nobs": len(frame.frame),
        "columns": cols, "data_name": model.data_name, "n_dropped": int(frame.n_dropped),
        "offset_column": frame.offset_column, "weights": frame.weights is not None,
        "offset": frame.offset is not None,
    }
    meta.update(_kind_meta(model, kind, arrays))
    if set(meta) != COMMON_FIELDS | KIND_FIELDS[kind]:   # the schema the loader reads
        raise RuntimeError(f"the {kind} record's fields {sorted(meta)} differ from "
                           "KIND_FIELDS; update both together")
    try:
        write_container(path, meta, arrays)
    except OSError as exc:
        raise DataError(f"cannot write the model file {str(path)!r}: {exc}") from None
    return path


def check_path(path: Any) -> Path:
    """`path` as a Path (a str or os.PathLike; anything else is refused)."""
    if not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"path must be a str or pathlib.Path, got "
                                f"{type(path).__name__}")
    return Path(path)


class Saveable:
    """Mixin of the model classes that `save` writes (lmer, glmer, gls, lm, glm, mmrm); the
    class names its kind in `kind` (one of `KINDS`; the fitted-model contract's `kind`)."""

    kind: str

    def save(self, path: str | Path) -> Path:
        """Write the fit to `path` (.npz: arrays + JSON metadata + a SHA-256 checksum, no
        pickle; see `mixedfx.fitted.saving`); `mixedfx.load(path)` reads it back. Returns
        the path written (".npz" appended if missing)."""
        return save_model(self, path)
