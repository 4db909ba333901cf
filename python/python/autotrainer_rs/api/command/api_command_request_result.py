"""``ApiCommandRequestResult`` (spelled ``ApiCommandReqeustResult`` in 0.9.11)."""

from .._catalogs import CATALOGS
from .._generation import V0_12

ApiCommandRequestResult = CATALOGS[V0_12]["ApiCommandRequestResult"]
