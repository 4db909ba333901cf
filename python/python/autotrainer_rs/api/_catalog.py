"""The base of every catalog enum: an ``IntEnum`` with the reference's
``is_member``."""

from enum import IntEnum


class Catalog(IntEnum):
    @classmethod
    def is_member(cls, value) -> bool:
        """Whether ``value`` is the number of a member."""
        return value in cls._value2member_map_
