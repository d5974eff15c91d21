"""Example data sets from R's lme4, nlme and the High School and Beyond study.

The data are bundled with the package as gzip-compressed CSV files together with one metadata
file (``data/datasets.json``) that records, for every column, its type in R and, for every
factor, R's level order.  :func:`load` rebuilds the R data frame as a pandas DataFrame:

* R factors become ``pd.Categorical`` with R's levels in R's order (``ordered=True`` for R's
  ordered factors), so the first category is R's reference level;
* R integers become ``int64``, R numerics ``float64`` and R logicals ``bool`` (pandas nullable
  dtypes where a column has missing values).

Available data sets (see :func:`names` and :func:`describe`)::

    sleepstudy, Dyestuff, Dyestuff2, Penicillin, Pastes, InstEval, cbpp, grouseticks,
    VerbAgg (lme4); Orthodont (nlme); hsb (High School and Beyond, built from nlme's
    MathAchieve and MathAchSchool); gpa, nurses, pupils, sociometric (the data of M. Clark's
    tutorial "Mixed Models with R", from J. Hox's Multilevel Analysis; CC BY-SA 4.0);
    fev_data, bcva_data (the R package mmrm's artificial trial data; Apache-2.0)

The tutorial's speed dating and patents data are not bundled (real study data without a
licence that allows redistribution); :data:`NOT_BUNDLED` says where to get them.

Names are case-insensitive.  Nothing is read at import time, and every call to :func:`load`
returns a new DataFrame, so callers may modify the result freely.

Example::

    >>> from mixedfx import datasets
    >>> df = datasets.load("sleepstudy")
    >>> df.shape
    (180, 3)
    >>> list(df["Subject"].cat.categories[:3])
    ['308', '309', '310']

The files are produced by ``tools/build_datasets.py`` from the reference CSV files, with the
types and level orders taken from R (``tools/extract_r_metadata.R``).
"""

from __future__ import annotations

import copy
import functools
import json
import textwrap
from importlib import resources
from typing import Any

import pandas as pd

from mixedfx.errors import ArgumentError, ArgumentTypeError, did_you_mean
from mixedfx.unknown_arguments import refuse_unknown_arguments, refuse_unknown_arguments_of

__all__ = ["NOT_BUNDLED", "describe", "load", "metadata", "names"]

#: Data sets of the tutorials that cannot be bundled, and where to get them.
NOT_BUNDLED: dict[str, str] = {
    "speed_dating": (
        "the speed dating experiment of Fisman, Iyengar, Kamenica and Simonson (2006), "
        "Quarterly Journal of Economics 121, 673-697, as prepared in M. Clark's Mixed Models "
        "with R: data/speed_dating.RData in https://github.com/m-clark/mixed-models-with-R "
        "(read it in R and write a CSV, or with the Python package pyreadr); the raw data "
        "'Speed Dating Data.csv' is in the same folder. It is real study data published "
        "without a licence that allows redistribution."),
    "patents": (
        "the patent opposition data of Fahrmeir, Kneib, Lang and Marx, Regression (Springer, "
        "2013), from the book's data sets; prepared in M. Clark's Mixed Models with R as "
        "data/patents.RData in https://github.com/m-clark/mixed-models-with-R. It is real "
        "data published without a licence that allows redistribution."),
}

_DATA_PACKAGE = "mixedfx.datasets"
_DATA_DIR = "data"
_METADATA_FILE = "datasets.json"

_FACTOR_TYPES = ("factor", "ordered factor")


@functools.lru_cache(maxsize=1)
def _metadata_text() -> str:
    """Return the raw text of ``datasets.json`` (an immutable str, so safe to cache)."""
    path = resources.files(_DATA_PACKAGE).joinpath(_DATA_DIR).joinpath(_METADATA_FILE)
    return path.read_text(encoding="utf-8")


def _all_metadata() -> dict[str, Any]:
    """Parse the metadata afresh (callers get their own, mutable copy)."""
    return json.loads(_metadata_text())["datasets"]


def names() -> list[str]:
    """Return the names of the bundled data sets, spelled as in R.

    Returns:
        A new list of names, e.g. ``["sleepstudy", "Dyestuff", ...]``.
    """
    return list(_all_metadata())


def _resolve(name: str) -> str:
    """Map a case-insensitive data set name to its canonical spelling."""
    if not isinstance(name, str):
        raise ArgumentTypeError(f"data set name must be a str, not {type(name).__name__}")
    available = names()
    lookup = {n.lower(): n for n in available}
    key = name.strip().lower()
    if key not in lookup:
        hint = next((f" ({k} is not bundled; get it from {v})" for k, v in NOT_BUNDLED.items()
                     if key.replace(" ", "_") == k), "")
        raise ArgumentError(f"unknown data set {name!r}{hint or did_you_mean(name, available)}; "
                            f"available data sets: {', '.join(available)}")
    return lookup[key]


def metadata(name: str) -> dict[str, Any]:
    """Return the metadata of a data set as a new dict.

    Args:
        name: data set name (case-insensitive).

    Returns:
        A dict with ``title``, ``description``, ``citation``, ``source_package``,
        ``source_package_version``, ``r_object`` (data sets of an R package) or ``licence``
        (the tutorial data sets, whose ``citation`` names the source), ``file``, ``nrow``
        and ``columns``
        (column name -> dict with ``r_type``, ``description``, ``missing`` and, for factors,
        ``levels`` in R's order).  A column stored differently from R (VerbAgg's ``r2``)
        has ``r_original`` with R's type and levels.

    Raises:
        ValueError: if the name is unknown.
    """
    canonical = _resolve(name)
    info = copy.deepcopy(_all_metadata()[canonical])
    info["name"] = canonical
    return info


def _convert(raw: pd.Series, spec: dict[str, Any], column: str) -> pd.Series | pd.Categorical:
    """Convert one column read as text into the pandas dtype matching its R type."""
    r_type = spec["r_type"]
    has_na = bool(raw.isna().any())
    if r_type in _FACTOR_TYPES:
        levels = spec["levels"]
        values = raw.astype(object)
        cat = pd.Categorical(values, categories=levels, ordered=r_type == "ordered factor")
        unmatched = (cat.codes == -1) & values.notna().to_numpy()
        if unmatched.any():
            bad = sorted(set(values[unmatched]))[:5]
            raise ArgumentError(f"column {column!r}: values {bad} are not among the stored levels")
        return cat
    if r_type == "integer":
        return pd.to_numeric(raw).astype("Int64" if has_na else "int64")
    if r_type == "numeric":
        # numpy's string -> float conversion is correctly rounded; pandas < 3's to_numeric
        # parser can be one unit in the last place off
        return pd.Series(raw.to_numpy(dtype=object).astype("float64"), index=raw.index,
                         name=raw.name)
    if r_type == "logical":
        mapped = raw.str.lower().map({"true": True, "false": False})
        return mapped.astype("boolean" if has_na else "bool")
    if r_type == "character":
        return raw.astype(object)
    raise ArgumentError(f"column {column!r}: unsupported R type {r_type!r}")


@refuse_unknown_arguments
def load(name: str) -> pd.DataFrame:
    """Load a bundled data set as a new pandas DataFrame.

    Args:
        name: data set name, case-insensitive (``"sleepstudy"``, ``"dyestuff"``, ``"HSB"``).

    Returns:
        The data with R's column order, row order, column types and factor level orders;
        factors are ``pd.Categorical`` (ordered for R's ordered factors). ``attrs["name"]``
        holds the data set's name, which model summaries print as ``Data:``.

    Raises:
        ValueError: if the name is unknown (the message lists the available names).
        TypeError: if ``name`` is not a string.
    """
    info = metadata(name)
    columns: dict[str, Any] = info["columns"]
    path = resources.files(_DATA_PACKAGE).joinpath(_DATA_DIR).joinpath(info["file"])
    with path.open("rb") as fh:
        raw = pd.read_csv(
            fh,
            compression="gzip",
            dtype=str,
            keep_default_na=False,
            na_values=[""],
        )
    if list(raw.columns) != list(columns):
        raise ArgumentError(f"data file of {info['name']!r} does not match its metadata")
    data = {col: _convert(raw[col], spec, col) for col, spec in columns.items()}
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(raw)))
    frame.attrs["name"] = info["name"]   # shown as "Data: ..." in model summaries
    return frame


def _type_label(spec: dict[str, Any]) -> str:
    r_type = spec["r_type"]
    if r_type not in _FACTOR_TYPES:
        return r_type
    levels = spec["levels"]
    sep = " < " if r_type == "ordered factor" else ", "
    shown = list(levels)
    if len(levels) > 8 or len(sep.join(levels)) > 60:
        head: list[str] = []
        for level in levels[:-1]:
            if len(head) >= 6 or len(sep.join([*head, level])) > 45:
                break
            head.append(level)
        shown = [*head, "...", levels[-1]]
    return f"{r_type}, {len(levels)} levels: {sep.join(shown)}"


def describe(name: str) -> str:
    """Describe a data set: what it holds, its source and its columns with their R types.

    Args:
        name: data set name (case-insensitive).

    Returns:
        A multi-line, human-readable text.

    Raises:
        ValueError: if the name is unknown.
    """
    info = metadata(name)
    columns: dict[str, Any] = info["columns"]
    wrap = functools.partial(textwrap.fill, width=88)
    shape = f"{info['nrow']} rows, {len(columns)} columns."
    if "licence" in info:
        head = [f"{info['name']}: {info['title']}", shape, "", wrap(info["description"]), "",
                wrap("Source: " + info["citation"], subsequent_indent="  "),
                wrap("Licence: " + info["licence"], subsequent_indent="  ")]
    else:
        head = [f"{info['name']}: {info['title']}",
                f"Source: R package {info['source_package']} "
                f"{info['source_package_version']} ({info['r_object']}); {shape}",
                "", wrap(info["description"]), "",
                wrap("Reference: " + info["citation"], subsequent_indent="  ")]
    lines = [*head, "", "Columns:"]
    width = max(len(c) for c in columns)
    for col, spec in columns.items():
        lines.append(f"  {col:<{width}}  {spec['description']}")
        lines.append(f"  {'':<{width}}  [{_type_label(spec)}]")
        original = spec.get("r_original")
        if original:
            lines.append(f"  {'':<{width}}  [in R: {_type_label(original)}]")
    return "\n".join(lines)

refuse_unknown_arguments_of(globals(), __all__)       # unknown keywords: ArgumentTypeError
