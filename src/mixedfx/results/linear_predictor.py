"""The linear predictor of a fitted mixed model: η = Xβ + offset + Σ_t Z_t b_t on the rows used
or on new data, with lme4's `re.form` choosing which random effects enter (`NA` / `~0`: none;
`~(1 | g)`: the intercepts of g only).

`LinearPredictor` is a mixin of `MixedModelBase`; the class supplies `_frame`, `beta` and
`_random_effects()` (b per term, shape (levels, k)).
"""

from __future__ import annotations

import numpy as np

from mixedfx.errors import ArgumentError, ArgumentTypeError
from mixedfx.fitted.predict import (
    fixed_matrix,
    parse_re_form,
    prepare_newdata,
    term_contribution,
)
from mixedfx.formula import build_design
from mixedfx.frame.model_frame import ModelFrame
from mixedfx.validate import check_bool


def drops_random(re_form: str | None) -> bool:
    """Whether `re_form` asks for no random effects ("NA", "~0")."""
    if re_form is None:
        return False
    if not isinstance(re_form, str):
        raise ArgumentTypeError("re_form must be None, 'NA', '~0' or a formula such as "
                                f"'~(1 | g)', got {re_form!r} ({type(re_form).__name__})")
    return re_form.replace(" ", "") in ("NA", "~0", "0", "~-1")


class LinearPredictor:
    """Mixin: η on the rows used (`linear_predictor`) or on new data (`linear_predictor_new`),
    with the random effects `re_form` keeps."""

    _frame: ModelFrame
    beta: np.ndarray

    def _eta(self, include: set[str] | None = None) -> np.ndarray:
        """Xβ + offset + Σ Z_t b_t over the terms whose group is in `include` (all if None)."""
        eta = self._frame.X @ self.beta
        if self._frame.offset is not None:
            eta = eta + self._frame.offset
        for t, b in zip(self._frame.terms, self._random_effects(), strict=True):
            if include is None or t.group_name in include:
                eta = eta + t.row_effects(b)
        return eta

    def _eta_new(self, newdata: object, re_form: str | None, allow_new_levels: bool
                 ) -> np.ndarray:
        check_bool(allow_new_levels, "allow_new_levels")
        masks = self._re_masks(re_form)
        if newdata is None:
            eta = self._eta(set())
            for t, b, mask in zip(self._frame.terms, self._random_effects(), masks,
                                  strict=True):
                if mask is not None:
                    eta = eta + t.row_effects(b * mask)
            return eta
        new = prepare_newdata(self._frame, newdata)
        eta = fixed_matrix(self._frame, new) @ self.beta + self._frame.new_offset(new.raw)
        for t, b, mask in zip(self._frame.terms, self._random_effects(), masks, strict=True):
            if mask is not None:
                eta = eta + term_contribution(t, b * mask, new, allow_new_levels)
        return eta

    def _re_masks(self, re_form: str | None) -> list[np.ndarray | None]:
        """Per term, which of its columns `re_form` keeps (None: the term is left out).

        As lme4's `predict(re.form=)`: a bar `(lhs | g)` keeps the columns of g's terms that
        its left-hand side names, so `~(1 | Subject)` on a `(Days | Subject)` model uses
        the intercepts only."""
        terms = self._frame.terms
        if re_form is None:
            return [np.ones(t.k) for t in terms]
        keep = self._terms_in(re_form)
        if not keep:
            return [None] * len(terms)
        wanted: dict[str, set[str]] = {}
        for bar in parse_re_form(self._frame, re_form, structures=False).bars:
            _, spec = build_design(bar.lhs, self._frame.frame)
            wanted.setdefault(bar.group_name, set()).update(spec.names)
        out: list[np.ndarray | None] = []
        for t in terms:
            names = wanted.get(t.group_name)
            out.append(None if names is None else
                       np.array([n in names for n in t.term_names], dtype=float))
        for g, names in wanted.items():
            have = {n for t in terms if t.group_name == g for n in t.term_names}
            extra = names - have
            if extra:
                raise ArgumentError(f"re_form names random-effect column(s) {sorted(extra)} for "
                                    f"{g!r} that the model does not have ({sorted(have)})")
        return [None if m is not None and not m.any() else m for m in out]

    def _terms_in(self, re_form: str | None) -> set[str]:
        groups = {t.group_name for t in self._frame.terms}
        if re_form is None:
            return groups
        if drops_random(re_form):
            return set()
        parsed = parse_re_form(self._frame, re_form, structures=True)
        wanted = {bar.group_name for bar in parsed.bars}
        unknown = wanted - groups
        if unknown:
            raise ArgumentError(f"re_form names grouping factors not in the model: "
                                f"{sorted(unknown)}; the model's are {sorted(groups)}")
        return wanted

    def linear_predictor(self, include: set[str] | None = None) -> np.ndarray:
        """η = Xβ + offset + Σ Z_t b_t over the terms whose group is in `include` (all if
        None), on the rows used."""
        return self._eta(include)

    def linear_predictor_new(self, newdata: object, re_form: str | None,
                             allow_new_levels: bool) -> np.ndarray:
        """η for `newdata` (None: the rows used) with the random effects `re_form` keeps."""
        return self._eta_new(newdata, re_form, allow_new_levels)
