"""0.12's ``ApiAlarmKind``."""

from ._catalogs import CATALOGS
from ._generation import V0_12

ApiAlarmKind = CATALOGS[V0_12]["ApiAlarmKind"]
