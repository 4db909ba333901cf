"""0.12's ``ApiDetectorKind``."""

from ._catalogs import CATALOGS
from ._generation import V0_12

ApiDetectorKind = CATALOGS[V0_12]["ApiDetectorKind"]
