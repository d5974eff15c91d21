"""Validation of a model file's fields (the format of `fitted.saving`): each JSON field's type
and range and each array's type, shape and values, refused with a `DataError` naming the field
and what would be valid; `Loader` gives a file's validated fields to `loading.rebuild`.

Rebuilt numbers must agree with the stored ones to RTOL: they are the stored estimates run
through the same deterministic evaluation, equal to the last bits on the machine that saved
them and to rounding (≈1e-12 relative) elsewhere; a tampered value moves them by far more.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.errors import DataError
from mixedfx.fitted.model_file import ModelFileReader
from mixedfx.fitted.saving import COMMON_FIELDS, FORMAT, FORMAT_VERSION, KIND_FIELDS, KINDS
from mixedfx.lmm.fit import lower_bounds, upper_bounds
from mixedfx.optimize import Control, OptimizationResult

MAX_NAGQ = 100          # lme4's Gauss–Hermite rules stop at 100 points
MAX_ROWS = 2**40
MAX_TEXT = 1 << 20      # characters of one text field (a formula, a message, a label)


class Fields:
    """Typed access to a dict of JSON fields; `where` prefixes field names in messages."""

    def __init__(self, data: Any, where: str, fail: Any) -> None:
        self.fail = fail
        self.where = where
        if not isinstance(data, dict):
            raise fail(f"field {where or 'meta'!r} must be an object, got "
                       f"{type(data).__name__}")
        self.data = data

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def raw(self, key: str) -> Any:
        if key not in self.data:
            raise self.fail(f"field {self._name(key)!r} is missing")
        return self.data[key]

    def _bad(self, key: str, want: str, value: Any) -> DataError:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return self.fail(f"field {self._name(key)!r} must be {want}, got {shown}")

    def boolean(self, key: str) -> bool:
        v = self.raw(key)
        if type(v) is not bool:
            raise self._bad(key, "true or false", v)
        return v

    def integer(self, key: str, lo: int = 0, hi: int = MAX_ROWS) -> int:
        v = self.raw(key)
        if type(v) is not int or not lo <= v <= hi:
            raise self._bad(key, f"an integer in [{lo}, {hi}]", v)
        return v

    def number(self, key: str, positive: bool = False, finite: bool = True,
               optional: bool = False) -> float | None:
        """A JSON number; with `finite=False` also "inf", "-inf", "nan" (as saved)."""
        v = self.raw(key)
        if v is None and optional:
            return None
        if isinstance(v, str) and not finite and v in ("inf", "-inf", "nan"):
            return float(v)
        if type(v) not in (int, float) or not math.isfinite(v) or (positive and v <= 0):
            want = "a positive finite number" if positive else "a finite number"
            raise self._bad(key, want + (" or null" if optional else ""), v)
        return float(v)

    def text(self, key: str, optional: bool = False, choices: tuple[str, ...] | None = None
             ) -> str | None:
        v = self.raw(key)
        if v is None and optional:
            return None
        if not isinstance(v, str) or len(v) > MAX_TEXT or (choices and v not in choices):
            want = f"one of {list(choices)}" if choices else "a string"
            raise self._bad(key, want + (" or null" if optional else ""), v)
        return v

    def texts(self, key: str) -> list[str]:
        v = self.raw(key)
        if not isinstance(v, list) or not all(isinstance(s, str) and len(s) <= MAX_TEXT
                                              for s in v):
            raise self._bad(key, "a list of strings", v)
        return list(v)

    def sub(self, key: str, optional: bool = False) -> Fields | None:
        v = self.raw(key)
        if v is None and optional:
            return None
        return Fields(v, self._name(key), self.fail)

    def items(self, key: str) -> list[Any]:
        v = self.raw(key)
        if not isinstance(v, list):
            raise self._bad(key, "a list", v)
        return v

    def only(self, allowed: set[str]) -> None:
        """Refuse keys this kind of model does not have (a model file is never extended
        silently: a newer format has a newer version)."""
        extra = sorted(set(self.data) - allowed)
        if extra:
            raise self.fail(f"unexpected field(s) {[self._name(k) for k in extra]}")


def column_specs(meta: Fields) -> list[dict[str, Any]]:
    """The `columns` entries, validated: name, kind, categories (unique JSON scalars)."""
    out = []
    names: set[str] = set()
    for i, entry in enumerate(meta.items("columns")):
        c = Fields(entry, f"columns[{i}]", meta.fail)
        name = c.text("name")
        if name in names:
            raise meta.fail(f"field 'columns[{i}].name' repeats the column {name!r}")
        names.add(name)
        kind = c.text("kind", choices=("float", "int", "bool", "str", "category", "datetime"))
        spec: dict[str, Any] = {"name": name, "kind": kind}
        if kind == "datetime":
            unit = c.text("unit", choices=("s", "ms", "us", "ns"))
            tz = c.text("tz", optional=True)
            if tz is not None:
                try:
                    pd.DatetimeTZDtype(unit, tz)
                except Exception:
                    raise meta.fail(f"field 'columns[{i}].tz' is not a time zone: "
                                    f"{tz[:40]!r}") from None
            spec.update(unit=unit, tz=tz)
            c.only({"name", "kind", "unit", "tz"})
            out.append(spec)
            continue
        if kind == "category":
            cats = c.items("categories")
            if not all(type(v) in (int, float, str) for v in cats) or \
                    len(set(cats)) != len(cats):
                raise meta.fail(f"field 'columns[{i}].categories' must be distinct numbers or "
                                "strings")
            spec.update(categories=cats, ordered=c.boolean("ordered"))
            c.only({"name", "kind", "categories", "ordered"})
        else:
            c.only({"name", "kind"})
        out.append(spec)
    if not out:
        raise meta.fail("field 'columns' is empty: a model frame has at least a response")
    return out


def structure_spec(f: Fields, key: str, names: tuple[str, ...]) -> tuple[str, str] | None:
    """An nlme structure stored as {"name": nlme name, "form": its form text}, or null."""
    s = f.sub(key, optional=True)
    if s is None:
        return None
    s.only({"name", "form"})
    return s.text("name", choices=names), s.text("form")


def opt_record(f: Fields | None, key: str) -> dict[str, Any] | None:
    """An optimizer record (fun, evaluations, optimizer, return_code, converged, messages and
    whether its gradient / Hessian are stored), or null."""
    if f is None:
        return None
    r = f.sub(key, optional=True)
    if r is None:
        return None
    r.only({"fun", "evaluations", "optimizer", "return_code", "converged", "messages",
            "gradient", "hessian"})
    return {"fun": r.number("fun", finite=False), "evaluations": r.integer("evaluations"),
            "optimizer": r.text("optimizer"), "return_code": r.text("return_code"),
            "converged": r.boolean("converged"), "messages": r.texts("messages"),
            "gradient": r.boolean("gradient"), "hessian": r.boolean("hessian")}


RTOL = 1e-7


class Loader:
    """One model file being rebuilt: the reader, the validated header and what is read."""

    def __init__(self, reader: ModelFileReader) -> None:
        self.r = reader
        self.fail = reader.fail
        meta = Fields(reader.meta(), "", self.fail)
        if meta.data.get("format") != FORMAT:
            raise self.fail(f"is not a mixedfx model file (field 'format' is "
                            f"{meta.data.get('format')!r}, expected {FORMAT!r})")
        version = meta.integer("version", 1, 2**31)
        if version > FORMAT_VERSION:
            raise self.fail(f"has format version {version}; this mixedfx reads versions up "
                            f"to {FORMAT_VERSION} (upgrade mixedfx)")
        if version < FORMAT_VERSION:
            raise self.fail(f"has format version {version}, written by an older mixedfx "
                            f"before files were checksummed; refit and save again (this "
                            f"mixedfx reads version {FORMAT_VERSION})")
        self.kind = meta.text("kind", choices=KINDS)
        meta.only(COMMON_FIELDS | KIND_FIELDS[self.kind])
        meta.text("mixedfx_version")
        self.meta = meta
        self.n = meta.integer("nobs", 1)

    # -- arrays ------------------------------------------------------------------------------
    def vector(self, name: str, length: int | None, finite: bool = True) -> np.ndarray:
        arr = self.r.read(name, (length,), "float")
        if finite and not np.all(np.isfinite(arr)):
            raise self.fail(f"field {name!r} has non-finite values (NaN or infinite)")
        return arr

    def matrix(self, name: str, size: int) -> np.ndarray:
        return self.r.read(name, (size, size), "float")

    def data_frame(self) -> tuple[pd.DataFrame, np.ndarray | None, np.ndarray | None]:
        """The stored rows as a DataFrame, prior weights and total offset."""
        data = {}
        for i, c in enumerate(column_specs(self.meta)):
            kind = {"category": "int", "datetime": "int"}.get(c["kind"], c["kind"])
            arr = self.r.read(f"col/{i}", (self.n,), kind, f"col/{i} ({c['name']})")
            if c["kind"] == "category":
                if np.any(arr < -1) or np.any(arr >= len(c["categories"])):
                    raise self.fail(f"field 'col/{i}' ({c['name']}) has category codes "
                                    f"outside [-1, {len(c['categories'])})")
                data[c["name"]] = pd.Categorical.from_codes(
                    arr, categories=pd.Index(c["categories"], dtype=object
                                             if any(isinstance(v, str) for v in
                                                    c["categories"]) else None),
                    ordered=c["ordered"])
            elif c["kind"] == "datetime":
                stamps = pd.Series(arr.view(f"M8[{c['unit']}]"))
                data[c["name"]] = stamps if c["tz"] is None else \
                    stamps.dt.tz_localize("UTC").dt.tz_convert(c["tz"])
            elif c["kind"] == "str":
                data[c["name"]] = pd.Series(arr.tolist(), dtype=object)
            else:
                data[c["name"]] = arr
        weights = offset = None
        if self.meta.boolean("weights"):
            weights = self.vector("weights", self.n)
            if np.any(weights < 0):
                raise self.fail("field 'weights' has negative prior weights")
        if self.meta.boolean("offset"):
            offset = self.vector("offset", self.n)
        return pd.DataFrame(data), weights, offset

    def control(self) -> Any:
        raw = self.meta.sub("control")
        try:
            return Control.from_user(dict(raw.data))
        except (TypeError, ValueError) as exc:
            raise self.fail(f"field 'control' is not valid: {exc}") from None

    def optimization(self, key: str, prefix: str, length: int) -> Any:
        rec = opt_record(self.meta.sub("optimization"), key)
        if rec is None:
            return None
        x = self.vector(f"{prefix}/x", length, finite=False)
        g = self.vector(f"{prefix}/gradient", length, False) if rec["gradient"] else None
        H = self.matrix(f"{prefix}/hessian", length) if rec["hessian"] else None
        return OptimizationResult(x=x, fun=rec["fun"], evaluations=rec["evaluations"],
                                  optimizer=rec["optimizer"], return_code=rec["return_code"],
                                  converged=rec["converged"], gradient=g, hessian=H,
                                  messages=rec["messages"])

    def check_opt_keys(self, allowed: set[str]) -> None:
        self.meta.sub("optimization").only(allowed)

    def agree(self, what: str, rebuilt: Any, stored: Any) -> None:
        """The rebuilt value equals the stored one (to RTOL, see the module docstring)."""
        a, b = np.asarray(rebuilt, dtype=float), np.asarray(stored, dtype=float)
        scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
        if a.shape != b.shape or not np.allclose(a, b, rtol=RTOL, atol=RTOL * scale):
            raise self.fail(f"field {what!r} does not match the model rebuilt from the stored "
                            "data and estimates: the file is corrupted or was edited")

    def theta(self, frame: Any) -> np.ndarray:
        lower, upper = lower_bounds(frame), upper_bounds(frame)
        theta = self.vector("theta", len(lower))
        if np.any(theta < lower) or np.any(theta > upper):
            raise self.fail("field 'theta' lies outside the parameter's bounds for this "
                            "model's random-effects terms")
        return theta
