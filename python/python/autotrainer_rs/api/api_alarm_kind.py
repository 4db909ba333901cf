"""0.12's ``ApiAlarmKind``."""

from ._enums_v0_12 import ApiAlarmKind

__all__ = ["ApiAlarmKind"]
