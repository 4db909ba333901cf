"""0.12's ``ApiApplicationMode``."""

from ._enums_v0_12 import ApiApplicationMode

__all__ = ["ApiApplicationMode"]
