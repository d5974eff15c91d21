"""The MMRM's data layout: the fixed-effects model frame plus, per used row, its subject,
visit (or coordinates), covariance group and weight; subjects grouped into blocks that share
one Σ (same group and same visit pattern; for spatial structures, same coordinates).

Checks (mmrm's and SAS's requirements): a visit factor (not numeric) for the non-spatial
structures, no visit level without observations, no subject with a visit twice, positive
finite weights, a subject in one covariance group only, and enough observations for the
number of covariance parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError, DataError
from mixedfx.frame.model_frame import ModelFrame, as_pandas, build_model_frame
from mixedfx.mmrm.structures import STRUCTURE_TABLE
from mixedfx.mmrm.terms import CovarianceTerm


@dataclass
class Block:
    """Subjects sharing one Σ: group g, visit indices (or a distance matrix), stacked rows."""

    group: int
    visits: np.ndarray                # visit indices (non-spatial) or row positions' order
    dist: np.ndarray | None           # distance matrix (spatial), else None
    subjects: np.ndarray              # subject indices (into MmrmDesign.subject_levels)
    rows: np.ndarray                  # (s, t) positions into the used rows
    X: np.ndarray                     # (s, t, p) rows scaled by √w
    y: np.ndarray                     # (s, t)    scaled by √w

    @property
    def size(self) -> int:
        return self.X.shape[1]


@dataclass
class MmrmDesign:
    """Everything the engine needs, built once from the formula and data."""

    frame: ModelFrame
    term: CovarianceTerm
    visit_levels: list[str]
    group_levels: list[str]
    subject_levels: list[str]
    subject_codes: np.ndarray         # per used row
    visit_codes: np.ndarray           # per used row (non-spatial), else -1
    group_codes: np.ndarray           # per used row
    coords: np.ndarray | None         # (n, d) spatial coordinates
    weights: np.ndarray               # per used row (ones without weights)
    blocks: list[Block] = field(default_factory=list)
    n_subjects_data: int = 0          # subjects in the data, with or without a used row

    @property
    def n_groups(self) -> int:
        return len(self.group_levels)

    @property
    def n_visits(self) -> int:
        return len(self.visit_levels)


def _levels(col: pd.Series) -> list[str]:
    if isinstance(col.dtype, pd.CategoricalDtype):
        return [str(c) for c in col.cat.categories]
    return sorted({str(v) for v in col})


def _visit_column(data: pd.DataFrame, name: str, structure: str) -> None:
    col = data[name]
    if not (isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object
            or pd.api.types.is_string_dtype(col.dtype)):
        raise DataError(f"the visit variable {name!r} of {structure}(...) must be a factor "
                        f"(categorical or string column), got dtype {col.dtype}; convert it "
                        "with data[name].astype('category'), or use sp_exp / sp_gau for "
                        "numeric time coordinates")


def _weights(weights: Any, data: pd.DataFrame) -> np.ndarray | None:
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights not in data.columns:
            raise ArgumentError(f"weights column {weights!r} is not in data")
        w = data[weights].to_numpy(dtype=float)
    else:
        w = np.asarray(weights, dtype=float).ravel()
        if len(w) != len(data):
            raise ArgumentError(f"weights has length {len(w)}, data has {len(data)} rows")
    ok = np.isnan(w) | ((w > 0) & np.isfinite(w))
    if not ok.all():
        raise DataError(f"weights must be positive and finite; {int((~ok).sum())} are not "
                        f"(first at row {int(np.flatnonzero(~ok)[0])})")
    return w


def build_design(fixed: str, term: CovarianceTerm, data: Any, weights: Any) -> MmrmDesign:
    """Model frame, codes and blocks for an MMRM (see the module docstring for the checks)."""
    data = as_pandas(data)
    used = list(term.visits) + [term.subject] + ([term.group] if term.group else [])
    missing = [c for c in used if c not in data.columns]
    if missing:
        raise DataError(f"covariance term {term.text()}: columns {missing} are not in data")
    if not term.spatial:
        _visit_column(data, term.visits[0], term.structure)
    w_all = _weights(weights, data)
    visit_levels = [] if term.spatial else _levels(data[term.visits[0]])
    group_levels = _levels(data[term.group]) if term.group else ["(all)"]
    frame = build_model_frame(fixed, data, weights=w_all, na_action="omit",
                              require_random=False, extra_variables=tuple(used))
    fr = frame.frame
    subj = fr[term.subject].astype(str).to_numpy()
    subject_levels = list(dict.fromkeys(_levels(data[term.subject])))
    s_index = {s: i for i, s in enumerate(subject_levels)}
    subject_codes = np.array([s_index[s] for s in subj])
    if term.group:
        g_index = {g: i for i, g in enumerate(group_levels)}
        group_codes = np.array([g_index[str(g)] for g in fr[term.group]])
    else:
        group_codes = np.zeros(len(fr), dtype=int)
    coords = None
    if term.spatial:
        coords = np.column_stack([fr[c].to_numpy(dtype=float) for c in term.visits])
        visit_codes = np.full(len(fr), -1)
    else:
        v_index = {v: i for i, v in enumerate(visit_levels)}
        visit_codes = np.array([v_index[str(v)] for v in fr[term.visits[0]]])
        empty = sorted(set(range(len(visit_levels))) - set(visit_codes.tolist()))
        if empty:
            raise DataError(f"visit factor {term.visits[0]!r} has levels with no observation "
                            f"{[visit_levels[i] for i in empty]}; drop unused levels (e.g. "
                            "data[col].cat.remove_unused_categories())")
    w = frame.weights if frame.weights is not None else np.ones(frame.n)
    design = MmrmDesign(frame, term, visit_levels, group_levels, subject_levels,
                        subject_codes, visit_codes, group_codes, coords,
                        np.asarray(w, dtype=float),
                        n_subjects_data=int(data[term.subject].dropna().nunique()))
    _check(design)
    design.blocks = make_blocks(design)
    return design


def _check(d: MmrmDesign) -> None:
    term = d.term
    if not term.spatial:
        pairs = pd.DataFrame({"s": d.subject_codes, "v": d.visit_codes})
        dup = pairs.duplicated()
        if dup.any():
            i = int(np.flatnonzero(dup.to_numpy())[0])
            raise DataError(f"subject {d.subject_levels[d.subject_codes[i]]!r} has visit "
                            f"{d.visit_levels[d.visit_codes[i]]!r} more than once; each "
                            f"subject ({term.subject}) may have each level of "
                            f"{term.visits[0]} at most once")
    per_subject = pd.Series(d.group_codes).groupby(d.subject_codes).nunique()
    if (per_subject > 1).any():
        s = int(per_subject.index[np.flatnonzero(per_subject.to_numpy() > 1)[0]])
        raise DataError(f"subject {d.subject_levels[s]!r} appears in more than one level of "
                        f"the covariance group {term.group!r}")
    structure = STRUCTURE_TABLE[term.structure]
    n_theta = structure.n_params(max(d.n_visits, 1)) * d.n_groups
    n_obs, p = d.frame.n, d.frame.X.shape[1]
    if n_obs - p < n_theta:
        raise DataError(f"too few observations for the model: {n_obs} rows, {p} fixed "
                        f"effects and {n_theta} covariance parameters ({term.structure}); "
                        "use a structure with fewer parameters")
    n_subj = len(np.unique(d.subject_codes))
    if term.structure == "us" and n_subj < d.n_visits + 1:
        raise DataError(f"too few subjects ({n_subj}) for an unstructured covariance of "
                        f"{d.n_visits} visits")


def make_blocks(d: MmrmDesign) -> list[Block]:
    """Group subjects by (covariance group, visit pattern) — for spatial structures each
    distinct set of coordinates is its own pattern — and stack their whitened rows."""
    order = np.lexsort((d.visit_codes, d.subject_codes)) if not d.term.spatial \
        else np.argsort(d.subject_codes, kind="stable")
    subj_sorted = d.subject_codes[order]
    starts = np.flatnonzero(np.r_[True, subj_sorted[1:] != subj_sorted[:-1]])
    ends = np.r_[starts[1:], len(order)]
    sw = np.sqrt(d.weights)
    X, y = d.frame.X, np.asarray(d.frame.y, dtype=float).ravel()
    keys: dict[tuple, list[np.ndarray]] = {}
    for a, b in zip(starts, ends, strict=True):
        rows = order[a:b]
        if d.term.spatial:
            key = (int(d.group_codes[rows[0]]), d.coords[rows].round(12).tobytes(), b - a)
        else:
            key = (int(d.group_codes[rows[0]]), tuple(d.visit_codes[rows].tolist()))
        keys.setdefault(key, []).append(rows)
    blocks = []
    for key, members in keys.items():
        R = np.array(members)                                   # (s, t)
        dist = None
        if d.term.spatial:
            c = d.coords[R[0]]
            dist = np.sqrt(((c[:, None, :] - c[None, :, :]) ** 2).sum(axis=2))
            visits = np.arange(R.shape[1])
        else:
            visits = np.array(key[1])
        blocks.append(Block(key[0], visits, dist, d.subject_codes[R[:, 0]], R,
                            X[R] * sw[R][..., None], y[R] * sw[R]))
    return blocks
