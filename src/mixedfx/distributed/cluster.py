"""The Dask client a distributed fit runs on, and the tree reduction of per-partition sums."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mixedfx.errors import ArgumentError, ArgumentTypeError


def require_dask() -> None:
    """Import check with a clear message when the optional dependency is missing."""
    try:
        import dask.dataframe  # noqa: F401

        import distributed  # noqa: F401
    except ImportError as exc:        # pragma: no cover - depends on the environment
        raise ImportError(dask_install_hint(exc.name)) from exc


def dask_install_hint(missing: str | None) -> str:
    """The message for a missing Dask dependency: the package and both install routes."""
    package = (missing or "dask").split(".")[0]
    return (f"fitting on Dask data needs the package {package}, which is not installed: "
            'pip install "dask[dataframe,distributed]" (or, installing mixedfx from PyPI, '
            'pip install "mixedfx[dask]"; from a checkout, pip install ".[dask]")')


@contextmanager
def client_for(client: Any) -> Iterator[Any]:
    """Yield a `dask.distributed.Client`.

    `client` is a Client (used as is), a scheduler address such as "tcp://host:8786"
    (connected with the `distributed.comm.timeouts.connect` timeout and closed afterwards)
    or None (a LocalCluster sized to the machine is started and closed afterwards).
    """
    require_dask()
    from distributed import Client, LocalCluster  # dask is optional: imported when used

    if isinstance(client, Client):
        yield client
        return
    if client is None:
        cluster = LocalCluster(dashboard_address=None)
        own = Client(cluster)
        try:
            yield own
        finally:
            own.close()
            cluster.close()
        return
    if not isinstance(client, str):
        raise ArgumentTypeError("client must be a dask.distributed.Client, a scheduler address "
                                f"string or None, got {type(client).__name__}")
    try:
        own = Client(client)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(f"could not reach the Dask scheduler at {client!r}: {exc}; "
                              "start the scheduler or pass client=None for a local "
                              "cluster") from None
    try:
        yield own
    finally:
        own.close()


def tree_reduce(items: list[Any], combine: Callable[[Any, Any], Any],
                split_every: int = 8) -> Any:
    """A delayed tree reduction: `combine` applied over groups of at most `split_every`
    items per level, so no task receives more than `split_every` partial sums."""
    from dask import delayed  # dask is optional (the `dask` extra): imported when used

    def combine_all(*parts: Any) -> Any:
        out = None
        for p in parts:
            if p is None:
                continue
            out = p if out is None else combine(out, p)
        return out

    level = list(items)
    if not level:
        raise ArgumentError("the data has no partitions")
    while len(level) > 1:
        level = [delayed(combine_all, pure=True)(*level[i:i + split_every])
                 for i in range(0, len(level), split_every)]
    if len(items) == 1:
        return delayed(combine_all, pure=True)(level[0])
    return level[0]
