"""``ApiCommand``: the catalog of ``AUTOTRAINER_RS_PROTOCOL`` (see ``api._generation``)."""

from .._catalogs import CATALOGS
from .._generation import PROTOCOL

ApiCommand = CATALOGS[PROTOCOL]["ApiCommand"]
