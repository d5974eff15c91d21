"""Deferred imports of heavy third-party modules, so that ``import mixedfx`` stays cheap.

``import scipy.stats`` alone costs about 0.4 s (it loads scipy.optimize, scipy.spatial,
scipy.special, scipy.interpolate, ...), formulaic's transforms about 0.1 s; most modules of
mixedfx need them only in a few functions (p-values, quantiles, polynomial contrasts). A module
writes, after its imports::

    stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only for p-values

and uses ``stats.norm.cdf(...)`` as before: the first attribute access imports the real module
(through the ordinary import system, so it runs nothing but that package's own import), and each
attribute read is then cached on the proxy, so later reads cost an ordinary attribute lookup.
Only modules outside mixedfx are deferred this way (third-party ones, and multiprocessing, which
only `n_jobs > 1` needs); mixedfx's own modules are always imported at the top of the module
that uses them (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["LazyModule", "lazy_module"]


class LazyModule:
    """A stand-in for the module ``name`` that imports it on the first attribute access."""

    def __init__(self, name: str) -> None:
        self.__dict__["_lazy_name"] = name

    def _lazy_load(self) -> ModuleType:
        """Import (or fetch from ``sys.modules``) the real module."""
        return importlib.import_module(self.__dict__["_lazy_name"])

    def __getattr__(self, attr: str) -> Any:
        # Called only when ordinary lookup fails, i.e. on the first read of each attribute.
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)      # keep copy/pickle/inspect probes off the import
        value = getattr(self._lazy_load(), attr)
        self.__dict__[attr] = value
        return value

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError(
            f"a LazyModule of {self.__dict__['_lazy_name']!r} is read-only; set {attr!r} on "
            "the real module instead")

    def __dir__(self) -> list[str]:
        return dir(self._lazy_load())

    def __repr__(self) -> str:
        return f"<lazy module {self.__dict__['_lazy_name']!r}>"


def lazy_module(name: str) -> Any:
    """A proxy for the module ``name`` (e.g. ``"scipy.stats"``) that imports it on first use.

    Typed as ``Any`` so that call sites read exactly like uses of the real module.
    """
    return LazyModule(name)
