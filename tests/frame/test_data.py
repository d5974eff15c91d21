"""The data's column names (`frame.data.column_names`, `column_positions`): checked once per
column index and remembered, yet never stale when the columns change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixedfx.errors import DataError
from mixedfx.frame.data import column_names, column_positions


def _data() -> pd.DataFrame:
    return pd.DataFrame({"y": np.arange(4.0), "x": np.arange(4.0), "g": list("abab")})


def test_names_and_positions_follow_changes_to_the_columns() -> None:
    d = _data()
    assert column_names(d) == ("y", "x", "g")
    assert column_positions(d) == {"y": 0, "x": 1, "g": 2}
    d["z"] = 1.0
    assert column_names(d) == ("y", "x", "g", "z")
    d = d.rename(columns={"x": "w"})
    assert column_names(d) == ("y", "w", "g", "z")
    assert column_positions(d)["g"] == 2
    d.columns = ["a", "b", "c", "d"]
    assert column_names(d) == ("a", "b", "c", "d")


def test_bad_names_are_refused_every_time() -> None:
    d = _data()
    column_names(d)
    dup = pd.concat([d, d[["x"]]], axis=1)
    for _ in range(2):
        with pytest.raises(DataError, match="duplicated"):
            column_names(dup)
    num = d.set_axis([0, "x", "g"], axis=1)
    with pytest.raises(DataError, match="must be strings"):
        column_names(num)
