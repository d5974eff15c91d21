"""Save / load (the .npz + JSON format of mixedfx.results.persist) and pickle round trips for
lmer, glmer and glmer_nb fits: the loaded model gives identical summaries and predictions."""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.errors import DataError
from mixedfx.results.persist import FORMAT_VERSION


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


@pytest.fixture(scope="module")
def fits() -> dict[str, object]:
    sl = mfx.datasets.load("sleepstudy")
    cb = mfx.datasets.load("cbpp")
    w = np.linspace(1, 2, len(sl))
    return {
        "lmer": (_quiet(mfx.lmer, "Reaction ~ Days + (Days | Subject)", sl), sl),
        "lmer_ml_weights_offset": (_quiet(mfx.lmer, "Reaction ~ Days + offset(Days) + "
                                          "(1 | Subject)", sl, REML=False, weights=w), sl),
        "glmer": (_quiet(mfx.glmer, "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                         cb), cb),
        "glmer_agq": (_quiet(mfx.glmer, "cbind(incidence, size - incidence) ~ period + "
                             "(1 | herd)", cb, nAGQ=5), cb),
        "glmer_nb": (_quiet(mfx.glmer_nb, "incidence ~ period + (1 | herd)", cb), cb),
    }


def _same(m, m2, data) -> None:
    assert str(m2.summary()) == str(m.summary())
    assert m2.loglik == m.loglik
    np.testing.assert_array_equal(m2.vcov.to_numpy(), m.vcov.to_numpy())
    np.testing.assert_array_equal(m2.theta, m.theta)
    np.testing.assert_array_equal(m2.fixef.to_numpy(), m.fixef.to_numpy())
    np.testing.assert_array_equal(m2.predict(), m.predict())
    np.testing.assert_array_equal(m2.predict(data.iloc[:7]), m.predict(data.iloc[:7]))
    np.testing.assert_array_equal(m2.predict(data, re_form="NA"), m.predict(data, re_form="NA"))
    for g, re in m.ranef(condvar=True).items():
        re2 = m2.ranef(condvar=True)[g]
        pd.testing.assert_frame_equal(re2, re)
        pd.testing.assert_frame_equal(re2.attrs["condsd"], re.attrs["condsd"])
    assert m2.to_dict() == m.to_dict()


@pytest.mark.parametrize("name", ["lmer", "lmer_ml_weights_offset", "glmer", "glmer_agq",
                                  "glmer_nb"])
def test_save_load_round_trip(fits, name: str, tmp_path: Path) -> None:
    m, data = fits[name]
    path = m.save(tmp_path / name)
    assert path.suffix == ".npz"
    _same(m, mfx.load(path), data)


@pytest.mark.parametrize("name", ["lmer", "glmer", "glmer_nb"])
def test_pickle_round_trip(fits, name: str) -> None:
    m, data = fits[name]
    _same(m, pickle.loads(pickle.dumps(m)), data)


def test_file_is_code_free_and_versioned(fits, tmp_path: Path) -> None:
    m, _ = fits["glmer_nb"]
    path = m.save(tmp_path / "nb.npz")
    with np.load(path, allow_pickle=False) as z:          # no pickled objects inside
        meta = json.loads(z["meta.json"].tobytes().decode())
        assert {"theta", "beta", "u/0", "col/0"} <= set(z.files)
    assert meta["format"] == "mixedfx-fit" and meta["version"] == FORMAT_VERSION
    assert meta["kind"] == "glmer" and meta["family"] == "negative.binomial"
    assert meta["nb_theta"] == pytest.approx(m.nb_theta, rel=0, abs=0)
    assert meta["formula"] == "incidence ~ period + (1 | herd)"


def test_load_refuses_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.npz"
    np.savez(bad, a=np.arange(3))
    with pytest.raises(DataError, match="not a mixedfx model file"):
        mfx.load(bad)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot read a mixedfx model"):
        mfx.load(junk)


def test_load_refuses_newer_version(fits, tmp_path: Path) -> None:
    m, _ = fits["lmer"]
    path = m.save(tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays["meta.json"].tobytes().decode())
    meta["version"] = FORMAT_VERSION + 1
    arrays["meta.json"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(tmp_path / "newer.npz", **arrays)
    with pytest.raises(DataError, match="format version"):
        mfx.load(tmp_path / "newer.npz")
