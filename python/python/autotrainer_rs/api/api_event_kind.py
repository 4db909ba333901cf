"""0.9.11's ``api_event_kind`` module: its event, detector and alarm kinds
and its status types."""

from dataclasses import dataclass
from typing import List

from ._enums_v0_9 import ApiAlarmKind, ApiDetectorKind, ApiEventKind

__all__ = ["ApiEventKind", "ApiDetectorKind", "ApiAlarmKind", "ApiDetectorStatus", "ApiAlarmStatus", "HeadFixStatus", "PelletStatus", "ApiSystemStatus"]


@dataclass(frozen=True)
class ApiDetectorStatus:
    detector_id: ApiDetectorKind
    is_active: bool
    is_enabled: bool


@dataclass(frozen=True)
class ApiAlarmStatus:
    alarm_id: ApiAlarmKind
    is_active: bool
    is_enabled: bool


@dataclass(frozen=True)
class HeadFixStatus:
    currentMagnetIntensity: float
    baselineMagnetIntensity: float


@dataclass(frozen=True)
class PelletStatus:
    send_x: float
    send_y: float
    send_z: float


@dataclass(frozen=True)
class ApiSystemStatus:
    alarms: List[ApiAlarmStatus]
    detectors: List[ApiDetectorStatus]
    pellet: PelletStatus
    headfix: HeadFixStatus
