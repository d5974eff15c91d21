"""The model-file record (`mixedfx.fitted.saving`): the fields written for each kind are the
declared schema the loader reads (`KIND_FIELDS`), and a class is saveable by naming its kind."""

from __future__ import annotations

from pathlib import Path

import pytest

import mixedfx as mfx
from mixedfx.errors import DataError
from mixedfx.fitted import saving


def test_every_kind_has_a_declared_schema() -> None:
    assert set(saving.KIND_FIELDS) == set(saving.KINDS)
    assert all(not (fields & saving.COMMON_FIELDS) for fields in saving.KIND_FIELDS.values())


def test_a_record_that_differs_from_the_schema_is_not_written(tmp_path: Path,
                                                              monkeypatch) -> None:
    m = mfx.lm("distance ~ age", mfx.datasets.load("Orthodont"))
    monkeypatch.setitem(saving.KIND_FIELDS, "lm", saving.KIND_FIELDS["lm"] | {"extra"})
    with pytest.raises(RuntimeError, match="differ from KIND_FIELDS"):
        m.save(tmp_path / "m")
    assert not (tmp_path / "m.npz").exists()


def test_saveable_class_names_its_kind(tmp_path: Path) -> None:
    class Unnamed(saving.Saveable):
        pass

    with pytest.raises(DataError, match="cannot save a Unnamed"):
        Unnamed().save(tmp_path / "u")
    assert mfx.lm("distance ~ age", mfx.datasets.load("Orthodont")).kind == "lm"
