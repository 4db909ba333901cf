"""0.12's ``ApiTrainingMode`` (the same codes as 0.9.11's)."""

from ._catalogs import CATALOGS
from ._generation import V0_12

ApiTrainingMode = CATALOGS[V0_12]["ApiTrainingMode"]
