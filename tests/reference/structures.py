"""Loader for the glmmTMB / nlme structure references (extra/structures_tmb.json, written by
extra/make_structures_tmb.R): the fits by id and their data frames, rebuilt exactly as the R
script builds them from the gzip CSVs in tests/reference/data and extra/gamma_sim.csv."""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REFERENCE_DIR = Path(__file__).resolve().parent
EXTRA_DIR = REFERENCE_DIR / "extra"


def _as_list(x: Any) -> list:
    return x if isinstance(x, list) else [x]


def _normalize(f: dict[str, Any]) -> dict[str, Any]:
    """jsonlite's auto_unbox writes length-1 vectors as scalars: restore the shapes
    (terms and sd lists, corr/cov k×k, ranef values levels×terms)."""
    for comp in f["varcorr"]:
        comp["terms"] = _as_list(comp["terms"])
        k = len(comp["terms"])
        comp["sd"] = _as_list(comp["sd"])
        for key in ("corr", "cov"):
            if comp.get(key) is not None:
                comp[key] = np.asarray(comp[key], dtype=float).reshape(k, k).tolist()
    for ref in f["ranef"].values():
        ref["levels"] = [str(v) for v in _as_list(ref["levels"])]
        ref["terms"] = _as_list(ref["terms"])
        ref["values"] = np.asarray(ref["values"], dtype=float).reshape(
            len(ref["levels"]), len(ref["terms"])).tolist()
    return f


@functools.cache
def fits() -> dict[str, dict[str, Any]]:
    doc = json.loads((EXTRA_DIR / "structures_tmb.json").read_text())
    return {f["id"]: _normalize(f) for f in doc["fits"]}


def _csv(name: str) -> pd.DataFrame:
    with gzip.open(REFERENCE_DIR / "data" / name, "rt", encoding="utf-8") as fh:
        return pd.read_csv(fh)


def _numeric_factor(s: pd.Series) -> pd.Categorical:
    levels = sorted(s.unique())
    return pd.Categorical(s.astype(str), categories=[str(v) for v in levels])


def _factor(s: pd.Series) -> pd.Categorical:
    return pd.Categorical(s, categories=sorted(s.unique()))


@functools.cache
def _data(name: str) -> pd.DataFrame:
    if name == "sleepstudy":
        d = _csv("sleepstudy.csv.gz")
        d["Subject"] = _numeric_factor(d.Subject)
        d["fDays"] = _numeric_factor(d.Days)
        return d
    if name == "Pastes":
        d = _csv("Pastes.csv.gz")
        d["batch"], d["cask"] = _factor(d.batch), _factor(d.cask)
        return d
    if name == "gpa":
        d = _csv("gpa.csv.gz")
        d["student"] = _numeric_factor(d.student)
        d["occas"] = _factor(d.occas)
        return d
    if name == "VerbAgg_120":
        d = _csv("VerbAgg.csv.gz")
        d["id"] = _numeric_factor(d.id)
        keep = list(d.id.cat.categories[:120])
        d = d[d.id.isin(keep)].reset_index(drop=True)
        d["id"] = pd.Categorical(d.id.astype(str), categories=keep)
        for c in ("btype", "Gender", "situ"):
            d[c] = _factor(d[c])
        return d
    if name == "gamma_sim":
        d = pd.read_csv(EXTRA_DIR / "gamma_sim.csv")
        d["g"] = _factor(d.g)
        return d
    raise KeyError(name)


def data(name: str) -> pd.DataFrame:
    return _data(name).copy()


def total_variances(component: dict[str, Any], sigma: float) -> np.ndarray:
    """Per-column variance of a term plus σ² (identified when they are confounded)."""
    return np.asarray(component["sd"], dtype=float) ** 2 + sigma**2
