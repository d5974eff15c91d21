"""Fitting mixed models on data held by Dask (`mixedfx[dask]`).

`mixedfx.lmer(formula, data=dask_frame_or_parquet_glob, client=None)` and the same for
`glmer` come here. Nothing in this package imports dask at import time: `is_distributed_data`
only looks at the type's module, and the fitting functions import dask when called.
"""

from __future__ import annotations

from typing import Any


def is_distributed_data(data: Any) -> bool:
    """Whether `data` is a Dask DataFrame or a path / glob of Parquet files."""
    if isinstance(data, str):
        return data.rstrip("/").lower().endswith(".parquet")
    module = type(data).__module__ or ""
    return module.startswith(("dask.", "dask_expr"))


__all__ = ["is_distributed_data"]
