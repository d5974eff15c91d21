"""Warnings that point at the user's line.

A warning raised deep inside a fit (a singular fit, a convergence check, rows dropped for
missing values) is attributed by Python to the frame `stacklevel` levels up; a fixed level
points into mixedfx whenever the call path changes (an argument-checking wrapper, a method
that calls a function, the Dask driver). `warn` instead walks up from its caller to the first
frame whose code lies outside the mixedfx package and gives `warnings.warn` that frame's
level, so `warnings.catch_warnings(record=True)` and the printed warning name the user's file
and line. (Python 3.12's `skip_file_prefixes` does the same; mixedfx supports 3.10.)
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["warn"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _inside_mixedfx(filename: str) -> bool:
    return filename.startswith(_PACKAGE_DIR)


def _is_import_machinery(filename: str) -> bool:
    # frames `warnings.warn` skips when it counts `stacklevel` (CPython's is_internal_frame)
    return "importlib" in filename and "_bootstrap" in filename


def user_stacklevel() -> int:
    """The `stacklevel` that makes `warnings.warn`, called by the function that called this
    one, point at the first frame outside mixedfx (the user's code); frames of the import
    machinery are not counted, as `warnings.warn` skips them."""
    frame = sys._getframe(1)              # the caller of this function: level 1
    level = 1
    while frame is not None and _inside_mixedfx(frame.f_code.co_filename):
        frame = frame.f_back
        while frame is not None and _is_import_machinery(frame.f_code.co_filename):
            frame = frame.f_back
        level += 1
    return level


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """`warnings.warn(message, category)` attributed to the first caller outside mixedfx."""
    warnings.warn(message, category, stacklevel=user_stacklevel())
