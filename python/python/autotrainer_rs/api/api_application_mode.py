"""0.12's ``ApiApplicationMode``."""

from ._catalogs import CATALOGS
from ._generation import V0_12

ApiApplicationMode = CATALOGS[V0_12]["ApiApplicationMode"]
