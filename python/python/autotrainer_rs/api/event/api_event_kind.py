"""0.12's ``ApiEventKind`` and ``ApiPelletShiftSource``."""

from .._catalogs import CATALOGS
from .._generation import V0_12

ApiEventKind = CATALOGS[V0_12]["ApiEventKind"]
ApiPelletShiftSource = CATALOGS[V0_12]["ApiPelletShiftSource"]
