"""Calls that do not fit a signature are refused (mixedfx.unknown_arguments)."""

from __future__ import annotations

import pytest

from mixedfx.errors import ArgumentTypeError, MixedfxError
from mixedfx.unknown_arguments import refuse_unknown_arguments


def test_unknown_argument_check_costs_nothing_on_good_calls() -> None:
    """The decorator inspects the signature only after a TypeError; a TypeError from inside
    a well-formed call passes through unchanged."""
    @refuse_unknown_arguments
    def f(a: int, b: int = 2) -> int:
        return a + b

    assert f(1, b=3) == 4
    with pytest.raises(ArgumentTypeError, match="did you mean 'b'"):
        f(1, bb=3)
    with pytest.raises(TypeError, match="can only concatenate") as info:
        f("x")
    assert not isinstance(info.value, MixedfxError)
