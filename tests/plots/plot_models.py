"""Fitted models shared by the plot tests (fitted once per session)."""

from __future__ import annotations

import warnings
from functools import cache

import mixedfx as mfx


@cache
def sleep():
    return mfx.lmer("Reaction ~ Days + (Days | Subject)", mfx.datasets.load("sleepstudy"))


@cache
def cbpp():
    return mfx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                     mfx.datasets.load("cbpp"), family="binomial")


@cache
def orthodont():
    return mfx.lmer("distance ~ age + Sex + (1 | Subject)", mfx.datasets.load("Orthodont"))


@cache
def dyestuff():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mfx.lmer("Yield ~ 1 + (1 | Batch)", mfx.datasets.load("Dyestuff"))
