"""Wheat: the reference squarer itself, as students receive it."""

from partB.squarer import Squarer

__all__ = ["Squarer"]

RUNS = 1
