"""0.12's emergency stop and resume reasons."""

from ._enums_v0_12 import ApiEmergencyResumeReason, ApiEmergencyStopReason

__all__ = ["ApiEmergencyStopReason", "ApiEmergencyResumeReason"]
