"""`family_from` by name gives one (frozen) Family per name and link, and refuses unknown
names and links every time."""

from __future__ import annotations

import pytest

from mixedfx.errors import ArgumentError
from mixedfx.families import family_from
from mixedfx.families.family import Family, binomial, poisson
from mixedfx.glmm.pirls import has_loglik_kernel


def test_named_families_are_shared_and_equal_to_fresh_ones() -> None:
    assert family_from("binomial") is family_from("binomial")
    assert family_from("binomial") == binomial()
    assert family_from("poisson", "sqrt") == poisson("sqrt")
    assert family_from("poisson", "sqrt") is not family_from("poisson")
    fam = binomial("probit")
    assert family_from(fam) is fam


@pytest.mark.parametrize("name,link", [("binomal", None), ("binomial", "nope")])
def test_unknown_names_raise_every_time(name, link) -> None:
    for _ in range(2):
        with pytest.raises(ArgumentError):
            family_from(name, link)


def test_loglik_kernel_probe_is_the_family_kernel() -> None:
    for name in ("binomial", "poisson", "Gamma", "gaussian", "inverse_gaussian"):
        fam = family_from(name)
        assert isinstance(fam, Family)
        assert has_loglik_kernel(fam) == (name in ("binomial", "poisson"))
