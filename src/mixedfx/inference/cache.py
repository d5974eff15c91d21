"""A per-fitted-model cache for derived quantities (Satterthwaite state, Kenward–Roger
adjustment): computed once, dropped with the model."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import FittedModel

T = TypeVar("T")


def per_model(compute: Callable[[Any], T]) -> Callable[[Any], T]:
    """Wrap `compute(model)` so each model's result is computed once (weakly keyed; an
    unhashable model is simply not cached)."""
    cache: weakref.WeakKeyDictionary[Any, T] = weakref.WeakKeyDictionary()

    def cached(model: FittedModel) -> T:
        try:
            value = cache.get(model)
        except TypeError:
            return compute(model)
        if value is None:
            value = compute(model)
            cache[model] = value
        return value

    cached.__doc__ = f"`{compute.__name__}`, computed once per fitted model."
    return cached
