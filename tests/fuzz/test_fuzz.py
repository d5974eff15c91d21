"""Fuzz the entry points (see harness.py): a fast 500-case smoke run in the normal suite and
a ≥ 10,000-case run marked slow. Every case must end in a finite fit or a clean mixedfx error:
no foreign exceptions, no hangs, no fits with non-finite estimates, nothing on stdout."""

from __future__ import annotations

import collections
import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings

sys.path.insert(0, str(Path(__file__).parent))
from harness import Case, cases, run_case

SEED = int(os.environ.get("MIXEDFX_FUZZ_SEED", "20261129"))
COUNTS: collections.Counter[str] = collections.Counter()


def _check(case: Case, time_limit: float) -> None:
    outcome, detail = run_case(case, time_limit)
    COUNTS[outcome] += 1
    assert outcome in ("fit", "error"), f"{outcome}: {detail}\n{case!r}"


@seed(SEED)
@settings(max_examples=500, deadline=None, database=None, derandomize=False,
          suppress_health_check=list(HealthCheck))
@given(case=cases(kinds=("lmer",), sizes=(20, 12, 30)))
def test_fuzz_smoke(case: Case) -> None:
    # the smoke run keeps to lmer on small frames so that it stays fast (< 60 s); GLMMs are
    # fuzzed by the slow run
    _check(case, time_limit=20.0)


@pytest.mark.slow
@seed(SEED)
@settings(max_examples=int(os.environ.get("MIXEDFX_FUZZ_CASES", "10000")), deadline=None,
          database=None, suppress_health_check=list(HealthCheck))
@given(case=cases())
def test_fuzz_large(case: Case) -> None:
    _check(case, time_limit=60.0)


def teardown_module() -> None:
    out = os.environ.get("MIXEDFX_FUZZ_REPORT")
    if out:
        Path(out).write_text(json.dumps({"seed": SEED, "counts": dict(COUNTS)}))
