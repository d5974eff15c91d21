"""Every R reference case: the formula parses and the fixed-effects design has R's names."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from mixedfx.formula import build_design, evaluate_response, parse_formula

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"


def _cases_module() -> ModuleType | None:
    path = REFERENCE_DIR / "cases.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("_mixedfx_reference_cases", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


CASES = _cases_module()
CASE_IDS = CASES.case_ids() if CASES is not None else []


@pytest.mark.skipif(CASES is None, reason="tests/reference/cases.py not available")
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_reference_case(case_id: str) -> None:
    assert CASES is not None
    case = CASES.load_case(case_id)
    data = CASES.load_data(case)
    parsed = parse_formula(case["formula"], list(data.columns), covariance_structures=True)
    assert parsed.bars
    complete = data.dropna(subset=list(parsed.variables))
    X, spec = build_design(parsed.fixed_rhs, complete)
    assert spec.names == list(case["expected"]["fixef"])
    assert X.shape == (case["expected"]["nobs"], len(spec.names))
    assert np.isfinite(X).all()
    assert parsed.response is not None
    y = evaluate_response(parsed.response, complete)
    assert y.shape[0] == case["expected"]["nobs"]
    for bar in parsed.bars:
        Z, _ = build_design(bar.lhs, complete)
        assert Z.shape[0] == case["expected"]["nobs"]
    ngrps = case["expected"].get("ngrps", {})
    names = {bar.group_name for bar in parsed.bars}
    assert set(ngrps) <= names
