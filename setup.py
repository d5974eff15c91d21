"""Build the compiled kernels of mixedfx.

The kernels are plain C against the CPython API only: arrays cross the boundary through the
buffer protocol, so no NumPy headers are needed at build time and one build serves every NumPy
the package supports. `-ffp-contract=off` keeps the compiler from fusing a*b+c into one
rounding, so a kernel gives the same bits whichever x86 machine built the wheel. Everything
else about the package is declared in pyproject.toml.

Each kernel is one extension module ``mixedfx._native.<name>`` built from
``src/mixedfx/_native/<name>.c``; `mixedfx.native.kernel(name)` loads it.
"""

import sys

from setuptools import Extension, setup

# (extension name, C sources); one line per kernel
KERNELS: list[tuple[str, list[str]]] = [
    ("mixedfx._native.pirls", ["src/mixedfx/_native/pirls.c"]),
    ("mixedfx._native.lmm", ["src/mixedfx/_native/lmm.c"]),
    ("mixedfx._native.tiled", ["src/mixedfx/_native/tiled.c"]),
    ("mixedfx._native.frame", ["src/mixedfx/_native/frame.c"]),
    ("mixedfx._native.convcheck", ["src/mixedfx/_native/convcheck.c"]),
]

# headers a kernel's source includes (rebuilt when they change; shipped in the sdist)
DEPENDS: dict[str, list[str]] = {
    "mixedfx._native.pirls": ["src/mixedfx/_native/pirls_loop.h",
                             "src/mixedfx/_native/pirls_setup.h",
                             "src/mixedfx/_native/nlopt_api.h"],
    "mixedfx._native.lmm": ["src/mixedfx/_native/lmm_newton.h", "src/mixedfx/_native/newton.h",
                           "src/mixedfx/_native/nlopt_api.h"],
    "mixedfx._native.tiled": ["src/mixedfx/_native/capsule.h"],
    "mixedfx._native.convcheck": ["src/mixedfx/_native/capsule.h"],
}

# libm linked explicitly (not on Windows, where the C runtime holds it): the kernels' exp / log /
# pow references then carry libm's current symbol versions (glibc >= 2.29: the functions
# without the SVID error-handling wrapper that an unversioned reference binds to at load time);
# the same libm code computes the values either way, so the results keep their bits
LIBRARIES = [] if sys.platform == "win32" else ["m"]

COMPILE_ARGS = ["-O2", "-ffp-contract=off", "-fno-math-errno", "-std=c99"]

setup(
    ext_modules=[
        Extension(name, sources, depends=DEPENDS.get(name, []), extra_compile_args=COMPILE_ARGS,
                  libraries=LIBRARIES)
        for name, sources in KERNELS
    ],
)
