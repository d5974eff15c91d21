"""Partitions in an order fixed by the model, so that a distributed fit's sums do not depend
on how the data were partitioned or on their row order (issue 18).

A Dask fit adds per-partition partial sums (cross-products, PIRLS sums); in floating point the
total depends on which rows each partition holds and on the row order inside it. Before the
passes that sum, the model's columns are therefore

1. hash-partitioned on the rows' values into K partitions (Dask's `shuffle(on=columns)`: a
   row's partition is its hash modulo K, whatever partition it came from), K fixed by the
   number of complete rows, ⌈n / CANONICAL_ROWS⌉;
2. sorted inside each partition by all the model's columns (a stable sort, so only identical
   rows, which contribute identically, can tie);

and the partial sums are combined in partition order by a tree whose shape depends on K only.
Shuffled, repartitioned copies of the same data then give the same partial sums in the same
order, hence bit-identical cross-products, θ, β and deviance.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

CANONICAL_ROWS = 250_000     # rows per canonical partition (the number of partitions: ⌈n/this⌉)


def canonical_count(n_rows: int, rows_per_partition: int | None = None) -> int:
    """K = ⌈n / CANONICAL_ROWS⌉ (at least 1): the number of canonical partitions."""
    per = CANONICAL_ROWS if rows_per_partition is None else rows_per_partition
    return max(1, -(-int(n_rows) // int(per)))


def sort_rows(part: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The partition's rows sorted by `columns` (stable; missing values last)."""
    if len(part) < 2:
        return part
    return part.sort_values(by=columns, kind="mergesort", na_position="last")


def canonical_partitions(ddf: Any, columns: list[str], n_rows: int) -> list[Any]:
    """The model's `columns` of `ddf` as delayed partitions in the canonical layout: hashed on
    the rows' values into `canonical_count(n_rows)` partitions, each sorted by its rows'
    values (see the module docstring)."""
    sub = ddf[columns]
    k = canonical_count(n_rows)
    shuffled = sub.shuffle(on=columns, npartitions=k)
    return list(shuffled.map_partitions(sort_rows, columns, meta=sub._meta).to_delayed())
