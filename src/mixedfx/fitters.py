"""The public fitting functions, registered by `mixedfx.api` when it is imported.

Results and diagnostics refit models with a new formula or on a subset of rows (`update`,
`influence`) through the same entry points a user calls, but must not import `mixedfx.api`
(which imports them): arrows point down the pipeline. They look the entry points up here
instead; `mixedfx.api` fills the table at import, and `import mixedfx` always imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_FITTERS: dict[str, Callable[..., Any]] = {}


def register(name: str, fit: Callable[..., Any]) -> None:
    """Make `fit` available as `fitter(name)`."""
    _FITTERS[name] = fit


def fitter(name: str) -> Callable[..., Any]:
    """The registered entry point `name` ("lmer", "glmer", "gls")."""
    if name not in _FITTERS:
        import mixedfx.api  # noqa: F401  (registers the entry points)
    return _FITTERS[name]


def residual_structure_kwargs(model: Any) -> dict[str, Any]:
    """`weights=` / `correlation=` that refit a model's nlme residual structure (empty for a
    model without one)."""
    residual = getattr(getattr(model, "_fit", None), "residual", None)
    if residual is None:
        return {}
    out: dict[str, Any] = {}
    if residual.var is not None:
        out["weights"] = residual.var.func
    if residual.cor is not None:
        out["correlation"] = residual.cor.struct
    return out
