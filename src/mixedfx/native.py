"""Access to the compiled kernels, with one warning per process when one is missing.

`pip install .` compiles every kernel in ``mixedfx/_native`` (setup.py). A source checkout used
without building them (``PYTHONPATH=src``) still works, on the NumPy code paths, which are
several times slower: `kernel` then says so once per kernel and process, and returns None so
that the caller takes that path. ``python setup.py build_ext --inplace`` builds them in place.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mixedfx.warn import warn

__all__ = ["CompiledKernelWarning", "kernel"]


class CompiledKernelWarning(UserWarning):
    """A compiled kernel is not built, so a slower NumPy path runs instead."""


_loaded: dict[str, ModuleType | None] = {}


def kernel(name: str) -> ModuleType | None:
    """The compiled kernel module ``mixedfx._native.<name>``, or None (after one warning per
    process) when it was not built."""
    if name in _loaded:
        return _loaded[name]
    try:
        module: ModuleType | None = importlib.import_module(f"mixedfx._native.{name}")
    except ImportError:
        module = None
        warn(
            f"the compiled kernel mixedfx._native.{name} is not built, so mixedfx runs its "
            "slower NumPy path; install the package with `pip install .` (or build in place "
            "with `python setup.py build_ext --inplace`)",
            CompiledKernelWarning)
    _loaded[name] = module
    return module
