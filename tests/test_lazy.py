"""Deferred third-party imports (mixedfx.lazy) and what `import mixedfx` loads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mixedfx.lazy import LazyModule, lazy_module

# Heavy or optional packages that `import mixedfx` must not load: each is imported only by the
# functions that need it (issue 21: import mixedfx within 0.25 s of numpy + scipy.linalg + pandas).
NOT_AT_IMPORT = (
    "scipy.stats", "scipy.optimize", "scipy.special", "scipy.spatial", "scipy.interpolate",
    "scipy.sparse", "formulaic", "matplotlib", "dask", "numba", "polars", "multiprocessing",
    "concurrent.futures.process",
)
# The only third-party packages `import mixedfx` may add to `import numpy, scipy.linalg,
# pandas` (every fit needs them, and they cost a few ms); anything else it adds is mixedfx's
# own modules or the standard library's.
THIRD_PARTY_AT_IMPORT = {"nlopt", "threadpoolctl"}


def imported_modules(code: str) -> list[str]:
    """The modules a fresh interpreter imports while running `code`, from -X importtime."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True, text=True, env=env, check=True, timeout=120)
    names = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.append(name)
    return names


@pytest.fixture(scope="module")
def import_mixedfx_modules() -> list[str]:
    return imported_modules("import mixedfx")


def test_import_mixedfx_reads_the_importtime_report(import_mixedfx_modules):
    assert "mixedfx" in import_mixedfx_modules
    assert "mixedfx.api" in import_mixedfx_modules
    assert "numpy" in import_mixedfx_modules


@pytest.fixture(scope="module")
def baseline_modules() -> set[str]:
    """What `import numpy, scipy.linalg, pandas` loads itself (SciPy 1.11's scipy.linalg, for
    one, imports scipy.sparse and scipy.sparse.linalg; later versions do not)."""
    return set(imported_modules("import numpy, scipy.linalg, pandas"))


@pytest.mark.parametrize("package", NOT_AT_IMPORT)
def test_import_mixedfx_does_not_load(import_mixedfx_modules, baseline_modules, package):
    loaded = [m for m in import_mixedfx_modules if (m == package or m.startswith(package + "."))
              and m not in baseline_modules]
    assert loaded == [], f"`import mixedfx` imports {loaded[:5]}"


def test_import_mixedfx_adds_no_other_third_party_module(import_mixedfx_modules,
                                                        baseline_modules):
    allowed = set(sys.stdlib_module_names) | THIRD_PARTY_AT_IMPORT | {"mixedfx"}
    # nlopt's SWIG bindings (nlopt < 2.8) register a swig_runtime_dataN module
    added = sorted(m for m in set(import_mixedfx_modules) - baseline_modules
                   if m.split(".")[0] not in allowed and not m.startswith("swig_runtime_data"))
    assert added == [], f"`import mixedfx` adds {added[:8]} (defer them with lazy_module)"


def test_the_check_sees_a_module_that_is_loaded():
    # the same parse reports scipy.stats when it is imported: the check above can fail
    assert "scipy.stats" in imported_modules("import scipy.stats")


def test_lazy_module_imports_on_first_attribute_and_caches():
    code = ("import sys\nfrom mixedfx.lazy import lazy_module\n"
            "m = lazy_module('colorsys')\n"
            "print('colorsys' in sys.modules)\n"
            "print(m.rgb_to_hsv(1.0, 0.0, 0.0))\n"
            "print('colorsys' in sys.modules)\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True, timeout=60).stdout.split()
    assert out == ["False", "(0.0,", "1.0,", "1.0)", "True"]


def test_lazy_module_reads_the_real_attributes():
    import json

    lazy = lazy_module("json")
    assert isinstance(lazy, LazyModule)
    assert lazy.dumps is json.dumps
    assert "dumps" in vars(lazy)            # cached on the proxy after the first read
    assert "dumps" in dir(lazy)
    assert repr(lazy) == "<lazy module 'json'>"


def test_lazy_module_is_read_only_and_reports_missing_names():
    lazy = lazy_module("json")
    with pytest.raises(AttributeError, match="read-only"):
        lazy.dumps = None
    with pytest.raises(AttributeError):
        lazy.no_such_function  # noqa: B018
    with pytest.raises(AttributeError):
        lazy.__wrapped__  # noqa: B018


def test_lazy_module_of_a_missing_package_fails_on_use_not_creation():
    lazy = lazy_module("mixedfx_no_such_package")
    with pytest.raises(ModuleNotFoundError):
        lazy.anything  # noqa: B018
