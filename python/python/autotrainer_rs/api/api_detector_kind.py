"""0.12's ``ApiDetectorKind``."""

from ._enums_v0_12 import ApiDetectorKind

__all__ = ["ApiDetectorKind"]
