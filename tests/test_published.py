"""Numbers printed in published tutorials (HSB, biomass_sim), at their printed precision.

The published values and the quantities they belong to are the ``published_check`` entries of
the case files (the table "Checks against published tutorial output" of the reference README).
A value matches when it rounds to the printed number: |value - published| <= half a unit of the
last printed digit.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

try:
    from reference import cases
except ImportError:  # pytest run with --import-mode=importlib
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from reference import cases


def _checks() -> list[Any]:
    out = []
    for cid in cases.case_ids("lme4::lmer"):
        for item in cases.load_case(cid).get("published_check") or []:
            out.append(pytest.param(cid, item, id=f"{cid}-{item['quantity']}"))
    return out


CHECKS = _checks()


@pytest.fixture(scope="module")
def fitted() -> Any:
    cache: dict[str, Any] = {}

    def get(case_id: str) -> Any:
        if case_id not in cache:
            import mixedfx as mfx

            case = cases.load_case(case_id)
            data = cases.load_data(case)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cache[case_id] = mfx.lmer(case["formula"], data=data, REML=bool(case["REML"]))
        return cache[case_id]

    return get


def _varcorr_value(vc: pd.DataFrame, spec: str, column: str, correlation: bool) -> float:
    """``var:<grp>[:<term>]`` (variance row) or ``cor:<grp>:<a>.<b>`` (correlation row)."""
    grp, _, term = spec.partition(":")
    rows = []
    for row in vc.itertuples(index=False):
        if row.grp != grp:
            continue
        has_var2 = not _is_missing(row.var2)
        if correlation:
            if has_var2 and term in (f"{row.var2}.{row.var1}", f"{row.var1}.{row.var2}"):
                rows.append(row)
        elif not has_var2 and (not term or row.var1 == term):
            rows.append(row)
    assert rows, f"no varcorr row for {spec!r}"
    return float(getattr(rows[0], column))


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def quantity(m: Any, name: str) -> float:
    """The model's value of a ``published_check`` quantity."""
    kind, _, spec = name.partition(":")
    if kind == "reml_criterion":
        return float(m.reml_criterion)
    if kind == "aic":
        return float(m.aic)
    if kind == "loglik":
        return float(m.loglik)
    if kind == "fixef":
        return float(m.fixef[spec])
    if kind == "se":
        v = m.vcov
        return float(np.sqrt(v.loc[spec, spec]))
    if kind == "var":
        return _varcorr_value(m.varcorr, spec, "vcov", correlation=False)
    if kind == "cor":
        return _varcorr_value(m.varcorr, spec, "sdcor", correlation=True)
    raise KeyError(f"unknown published quantity {name!r}")


def assert_matches_printed(value: float, printed: str, what: str) -> None:
    half_unit = 0.5 * 10.0 ** (-cases.printed_decimals(printed))
    diff = abs(value - float(printed))
    assert diff <= half_unit * (1 + 1e-9), (
        f"{what}: {value!r} does not round to the published {printed} "
        f"(|diff| {diff:.3g} > {half_unit:g})"
    )


@pytest.mark.parametrize(("case_id", "check"), CHECKS)
def test_reference_value_matches_publication(case_id: str, check: dict[str, Any]) -> None:
    """Sanity check of this file's reading of the table: R's own value matches."""
    assert_matches_printed(check["computed"], check["published"], f"R {check['quantity']}")


@pytest.mark.parametrize(("case_id", "check"), CHECKS)
def test_published_value(fitted: Any, case_id: str, check: dict[str, Any]) -> None:
    m = fitted(case_id)
    value = quantity(m, check["quantity"])
    assert_matches_printed(value, check["published"], f"{case_id} {check['quantity']}")
