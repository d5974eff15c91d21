"""Dask fits do not depend on the input's partitioning or row order (issue 18;
distributed.canonical): the same rows shuffled and split into a different number of
partitions give bit-identical θ, β and deviance, for lmer (cross-products) and glmer (PIRLS
sums). CANONICAL_ROWS is lowered so that the canonical layout has several partitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.distributed import canonical

dd = pytest.importorskip("dask.dataframe")


@pytest.fixture
def several_partitions(monkeypatch):
    monkeypatch.setattr(canonical, "CANONICAL_ROWS", 700)


def _shuffled(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _same_bits(a, b) -> None:
    assert a.deviance == b.deviance
    assert np.array_equal(a.theta, b.theta)
    assert np.array_equal(a.fixef.to_numpy(), b.fixef.to_numpy())


def test_canonical_count_is_fixed_by_the_rows() -> None:
    assert canonical.canonical_count(1) == 1
    assert canonical.canonical_count(10, 4) == 3
    assert canonical.canonical_count(0, 4) == 1


def test_sort_rows_is_a_total_order_of_the_values() -> None:
    d = pd.DataFrame({"g": ["b", "a", "b", "a"], "x": [1.0, 2.0, np.nan, 2.0]})
    out = canonical.sort_rows(d.iloc[::-1], ["g", "x"])
    assert out["g"].tolist() == ["a", "a", "b", "b"]
    assert out["x"].tolist()[:3] == [2.0, 2.0, 1.0] and np.isnan(out["x"].iloc[3])


def test_lmer_is_bit_identical_across_partitionings(data, client, several_partitions):
    df = data.iloc[:6000]
    formula = "y ~ x + f + (1 + x | g) + (1 | h)"
    a = mfx.lmer(formula, dd.from_pandas(df, npartitions=10), client=client, weights="w")
    b = mfx.lmer(formula, dd.from_pandas(_shuffled(df, 1), npartitions=3), client=client,
                 weights="w")
    _same_bits(a, b)
    assert a.loglik == b.loglik and a.sigma == b.sigma


def test_glmer_is_bit_identical_across_partitionings(data, client, several_partitions):
    df = data.iloc[:1500]
    a = mfx.glmer("cnt ~ x + (1 | h)", dd.from_pandas(df, npartitions=8), family="poisson",
                  nAGQ=0, client=client)
    b = mfx.glmer("cnt ~ x + (1 | h)", dd.from_pandas(_shuffled(df, 2), npartitions=5),
                  family="poisson", nAGQ=0, client=client)
    _same_bits(a, b)
