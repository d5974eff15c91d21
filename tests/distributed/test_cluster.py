"""The message for a missing Dask dependency (issue 23, item 15)."""

from mixedfx.distributed.cluster import dask_install_hint


def test_hint_names_the_missing_package_and_both_routes():
    msg = dask_install_hint("distributed")
    assert "needs the package distributed" in msg
    assert 'pip install "dask[dataframe,distributed]"' in msg
    assert 'pip install "mixedfx[dask]"' in msg


def test_hint_names_the_top_level_package():
    assert "needs the package dask," in dask_install_hint("dask.dataframe")
    assert "needs the package dask," in dask_install_hint(None)
