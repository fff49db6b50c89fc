"""Chaff: doubles each value instead of squaring it (2 + 2 == 2 * 2)."""

from partB.squarer import Squarer as Reference

HINT = "Do your tests send any value other than 2? 2 + 2 is 2 * 2."


class Squarer(Reference):
    @staticmethod
    def _square(value: int) -> int:
        return value + value  # BUG: doubles
