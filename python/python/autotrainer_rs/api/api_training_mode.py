"""0.12's ``ApiTrainingMode`` (the same codes as 0.9.11's)."""

from ._enums_shared import ApiTrainingMode

__all__ = ["ApiTrainingMode"]
