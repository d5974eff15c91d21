"""CrossProductBuilder.with_values (new term values, same codes) equals a fresh build."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import scipy.sparse as sp

import mixedfx as mfx
from mixedfx.lmm.crossproducts import CrossProductBuilder, compute_crossproducts


def _dense(m: object) -> np.ndarray:
    return m.toarray() if sp.issparse(m) else np.asarray(m)


def test_with_values_equals_a_fresh_build() -> None:
    d = mfx.datasets.load("sleepstudy")
    d = d.assign(g2=(d.index % 7).astype(str))
    m = mfx.lmer("Reaction ~ Days + (Days | Subject) + (1 | g2)", d)
    frame = m.frame
    rng = np.random.default_rng(3)
    terms = [replace(t, values=t.values * rng.uniform(0.5, 2.0, t.values.shape))
             for t in frame.terms]
    X = frame.X * rng.uniform(0.5, 2.0, frame.X.shape)
    y = frame.y * rng.uniform(0.5, 2.0, frame.n)
    w = rng.uniform(0.5, 2.0, frame.n)
    reused = CrossProductBuilder(frame.terms, frame.X).with_values(terms, X).compute(y, w)
    fresh = compute_crossproducts(terms, X, y, w)
    np.testing.assert_allclose(reused.A11, fresh.A11, rtol=1e-12)
    np.testing.assert_allclose(_dense(reused.B), _dense(fresh.B), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(reused.Arr, fresh.Arr, rtol=1e-12, atol=1e-9)
