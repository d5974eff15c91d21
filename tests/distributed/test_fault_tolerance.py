"""A worker killed during a distributed fit: Dask reruns its tasks, the fit is identical."""

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


def _slow(part):
    time.sleep(0.25)            # so that the kill lands while a pass is running
    return part


def test_killed_worker_gives_the_same_fit(data):
    from distributed import Client, LocalCluster

    formula = "y ~ x + f + (1 | g) + (1 | h)"
    small = data.iloc[:3000].reset_index(drop=True)
    reference = mfx.lmer(formula, small)
    ddf = dd.from_pandas(small, npartitions=8).map_partitions(_slow)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        undisturbed = mfx.lmer(formula, ddf, client=client)
        killed: list[tuple[str, float]] = []

        def kill_busy_worker() -> None:
            deadline = time.time() + 60
            while time.time() < deadline:
                busy = [w for w, tasks in client.processing().items() if tasks]
                for nanny in list(cluster.workers.values()):
                    if busy and nanny.worker_address == busy[0] and nanny.process:
                        os.kill(nanny.process.process.pid, signal.SIGKILL)
                        killed.append((busy[0], time.time()))
                        return
                time.sleep(0.02)

        killer = threading.Thread(target=kill_busy_worker)
        killer.start()
        m = mfx.lmer(formula, ddf, client=client)
        finished = time.time()
        killer.join()
        assert killed, "no worker was killed during the fit"
        assert killed[0][1] < finished
        # the killed worker's address is gone from the scheduler (its nanny started anew)
        client.wait_for_workers(2, timeout=60)
        assert killed[0][0] not in client.scheduler_info()["workers"]
    # the same tree of partial sums, whichever worker computes it: identical numbers
    assert m.loglik == undisturbed.loglik
    np.testing.assert_array_equal(m.theta, undisturbed.theta)
    np.testing.assert_array_equal(m.fixef.to_numpy(), undisturbed.fixef.to_numpy())
    assert m.loglik == pytest.approx(reference.loglik, rel=1e-8)
    np.testing.assert_allclose(m.fixef.to_numpy(), reference.fixef.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(m.theta, reference.theta, rtol=1e-6, atol=1e-6)
