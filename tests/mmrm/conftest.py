"""Shared fixtures for the MMRM tests: mmrm's fev_data / bcva_data exported to CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

REF = Path(__file__).resolve().parents[1] / "reference" / "mmrm"


def load_reference_data(name: str) -> pd.DataFrame:
    """The CSV export with R's factor levels restored (see export_data.R)."""
    d = pd.read_csv(REF / f"{name}.csv")
    for line in (REF / f"{name}_levels.tsv").read_text().splitlines():
        col, *levels = line.split("\t")
        d[col] = pd.Categorical(d[col].astype(str), categories=levels)
    return d


@pytest.fixture(scope="session")
def fev() -> pd.DataFrame:
    return load_reference_data("fev_data")
