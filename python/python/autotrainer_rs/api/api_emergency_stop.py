"""0.12's emergency stop and resume reasons."""

from ._catalogs import CATALOGS
from ._generation import V0_12

ApiEmergencyStopReason = CATALOGS[V0_12]["ApiEmergencyStopReason"]
ApiEmergencyResumeReason = CATALOGS[V0_12]["ApiEmergencyResumeReason"]
