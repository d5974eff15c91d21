"""`fixef`'s index is built once per set of names (refits and bootstrap replicates share
it), and a returned Series cannot change it."""

from __future__ import annotations

import warnings

import mixedfx as mfx
from mixedfx import datasets
from mixedfx.results.accessors import names_index


def test_fixef_index_is_cached_but_private_to_each_series() -> None:
    m = mfx.lmer("Reaction ~ Days + (Days | Subject)", datasets.load("sleepstudy"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = m.refit(m.simulate(nsim=1, seed=2)[:, 0])
    f, g = m.fixef, r.fixef
    assert list(f.index) == list(g.index) == ["(Intercept)", "Days"]
    assert f.index.dtype == names_index(("(Intercept)", "Days")).dtype
    f.index.name = "changed"
    assert m.fixef.index.name is None and r.fixef.index.name is None
    assert names_index(("(Intercept)", "Days")).name is None
    assert names_index(("(Intercept)", "Days")) is names_index(("(Intercept)", "Days"))
