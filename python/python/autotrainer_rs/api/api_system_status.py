"""0.12's GET_STATUS payload, ``ApiSystemStatus``, and its parts."""

from dataclasses import dataclass
from typing import List, Optional

from .api_alarm_kind import ApiAlarmKind
from .api_application_mode import ApiApplicationMode
from .api_detector_kind import ApiDetectorKind
from .api_training_mode import ApiTrainingMode

__all__ = ["ApiAlarmKind", "ApiApplicationMode", "ApiDetectorKind", "ApiTrainingMode", "ApiProjectStatus", "ApiDetectorStatus", "ApiAlarmStatus", "ApiTunnelDeviceStatus", "ApiPelletDeviceStatus", "ApiReachStatus", "ApiBehaviorStatus", "ApiAnimalStatus", "ApiSystemStatus"]


@dataclass(frozen=True)
class ApiProjectStatus:
    day_path: str
    trial_id: int
    session_id: str


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
    is_auto_resume_enabled: bool = False
    is_stop_condition: bool = False


@dataclass(frozen=True)
class ApiTunnelDeviceStatus:
    magnet_intensity: float
    is_gate_open: bool = False
    is_fan_on: bool = False


@dataclass(frozen=True)
class ApiPelletDeviceStatus:
    dcs_send_x: float
    dcs_send_y: float
    dcs_send_z: float
    dcs_x: float = 0.0
    dcs_y: float = 0.0
    dcs_z: float = 0.0
    load_arm: float = 0.0
    barrier_arm: float = 0.0
    is_barrier_arm_active: bool = False
    is_home_on_excessive_drift_enabled: bool = False
    is_tunnel_sweep_enabled: bool = False


@dataclass(frozen=True)
class ApiReachStatus:
    pellets_presented: int = 0
    pellets_consumed: int = 0
    reaches: int = 0
    successful_reaches: int = 0


@dataclass(frozen=True)
class ApiBehaviorStatus:
    baseline_magnet_intensity: float
    reaches: ApiReachStatus
    is_live_analysis_enabled: bool = False
    is_pellet_delivery_enabled: bool = False
    is_pellet_cover_enabled: bool = False
    is_intertrial_pellet_shift_enabled: bool = False
    is_triangle_pellet_distance_detection_enabled: bool = False
    is_auto_close_gate_on_intertrial_enabled: bool = False
    is_auto_clamp_enabled: bool = False
    is_batch_trials_enabled: bool = False


@dataclass(frozen=True)
class ApiAnimalStatus:
    identifier: str
    name: str
    dcs_send_x: float
    dcs_send_y: float
    dcs_send_z: float
    target_y_limit: Optional[float]
    reach_status_total: ApiReachStatus
    reach_status_day: ApiReachStatus


@dataclass(frozen=True)
class ApiSystemStatus:
    application_mode: ApiApplicationMode
    training_mode: ApiTrainingMode
    animal: Optional[ApiAnimalStatus]
    project: ApiProjectStatus
    alarms: List[ApiAlarmStatus]
    detectors: List[ApiDetectorStatus]
    pellet_device: ApiPelletDeviceStatus
    tunnel_device: ApiTunnelDeviceStatus
    behavior: ApiBehaviorStatus
