"""0.9.11's GET_STATUS payload."""

from dataclasses import dataclass

from .._catalogs import CATALOGS
from .._generation import V0_9

ApiAppStatus = CATALOGS[V0_9]["ApiAppStatus"]
ApiTrainingMode = CATALOGS[V0_9]["ApiTrainingMode"]


@dataclass
class StatusResponse:
    app_status: ApiAppStatus
    training_mode: ApiTrainingMode
    animal_id: str
