"""Validation of a model file's JSON fields (`results.persist`): each field's type and range,
refused with a `DataError` naming the field and what would be valid."""

from __future__ import annotations

import math
from typing import Any

from mixedfx.errors import DataError

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


def column_specs(meta: Fields, nobs: int) -> list[dict[str, Any]]:
    """The `columns` entries, validated: name, kind, categories (unique JSON scalars)."""
    out = []
    names: set[str] = set()
    for i, entry in enumerate(meta.items("columns")):
        c = Fields(entry, f"columns[{i}]", meta.fail)
        name = c.text("name")
        if name in names:
            raise meta.fail(f"field 'columns[{i}].name' repeats the column {name!r}")
        names.add(name)
        kind = c.text("kind", choices=("float", "int", "bool", "str", "category"))
        spec: dict[str, Any] = {"name": name, "kind": kind}
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
