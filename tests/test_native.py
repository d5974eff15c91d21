"""The compiled kernels are built and loaded: an installed mixedfx (`pip install .`) must not
fall back to the NumPy paths silently. In a source checkout, build them in place first:
``python setup.py build_ext --inplace``."""

import warnings

import pytest

from mixedfx.native import CompiledKernelWarning, kernel


@pytest.mark.parametrize("name", ["convcheck", "frame", "lmm", "pirls", "tiled"])
def test_kernel_is_built(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompiledKernelWarning)
        module = kernel(name)
    assert module is not None
    assert module.__name__ == f"mixedfx._native.{name}"


def test_a_missing_kernel_warns_once_and_returns_none() -> None:
    with pytest.warns(CompiledKernelWarning, match="not built"):
        assert kernel("no_such_kernel") is None
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompiledKernelWarning)
        assert kernel("no_such_kernel") is None      # said once per process
