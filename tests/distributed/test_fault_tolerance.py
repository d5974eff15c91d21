"""A worker killed during a distributed fit: Dask reruns its tasks, the fit is unchanged."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

import mixedfx as mfx

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


@pytest.mark.slow
def test_killed_worker_gives_the_same_fit(data):
    from distributed import Client, LocalCluster

    formula = "y ~ x + f + (1 | g) + (1 | h)"
    reference = mfx.lmer(formula, data)
    # slow partitions (0.3 s each) so that the kill lands while the passes run
    ddf = dd.from_pandas(data, npartitions=12).map_partitions(
        lambda d: (time.sleep(0.3), d)[1])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        killed: list[str] = []

        def kill_one() -> None:
            deadline = time.time() + 30
            while time.time() < deadline:
                busy = [w for w, n in client.processing().items() if n]
                if busy:
                    nanny = next(iter(cluster.workers.values()))
                    os.kill(nanny.process.process.pid, signal.SIGKILL)
                    killed.append(busy[0])
                    return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_one)
        killer.start()
        m = mfx.lmer(formula, ddf, client=client)
        killer.join()
    assert killed, "no worker was killed during the fit"
    assert m.loglik == pytest.approx(reference.loglik, rel=1e-8)
    np.testing.assert_allclose(m.fixef.to_numpy(), reference.fixef.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(m.theta, reference.theta, rtol=1e-6)
