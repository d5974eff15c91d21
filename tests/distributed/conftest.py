"""Shared fixtures of the Dask tests: a small in-process LocalCluster (2 workers, 1 thread)
and simulated long-format data split into ≥ 8 partitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")


@pytest.fixture(scope="session")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                           dashboard_address=None)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def simulate(n: int = 20_000, seed: int = 1) -> pd.DataFrame:
    """Crossed subjects (300) and items (40), a nested factor f within items, a random slope
    of x by subject, a 3-level fixed factor, weights and a binary response."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 300, n)
    h = rng.integers(0, 40, n)
    x = rng.normal(size=n)
    f = rng.choice(["a", "b", "c"], n)
    u0, u1 = rng.normal(size=300), 0.6 * rng.normal(size=300)
    v = rng.normal(size=40)
    fh = rng.normal(size=(40, 3)) * 0.5
    eta = 1 + 0.5 * x + (f == "b") * 0.3 + u0[g] + u1[g] * x + v[h] \
        + fh[h, np.searchsorted(["a", "b", "c"], f)]
    df = pd.DataFrame({"g": g, "h": [f"item{i:02d}" for i in h], "x": x, "f": f,
                       "y": eta + rng.normal(size=n),
                       "w": rng.uniform(0.5, 2.0, n)})
    df["yb"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-(eta - 1)))).astype(float)
    df["cnt"] = rng.poisson(np.exp(0.3 * (eta - 1)))
    return df


@pytest.fixture(scope="session")
def data() -> pd.DataFrame:
    return simulate()


@pytest.fixture(scope="session")
def ddf(data):
    import dask.dataframe as dd

    return dd.from_pandas(data, npartitions=10)
