"""0.9.11's GET_STATUS payload."""

from dataclasses import dataclass

from .._enums_shared import ApiTrainingMode
from .._enums_v0_9 import ApiAppStatus

__all__ = ["ApiAppStatus", "ApiTrainingMode", "StatusResponse"]


@dataclass
class StatusResponse:
    app_status: ApiAppStatus
    training_mode: ApiTrainingMode
    animal_id: str
