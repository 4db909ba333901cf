"""0.12's ``ApiEventKind`` and ``ApiPelletShiftSource``."""

from .._enums_v0_12 import ApiEventKind, ApiPelletShiftSource

__all__ = ["ApiEventKind", "ApiPelletShiftSource"]
