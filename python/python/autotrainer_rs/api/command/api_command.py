"""``ApiCommand``: the catalog of ``AUTOTRAINER_RS_PROTOCOL`` (see ``api._generation``)."""

from .._generation import PROTOCOL, V0_9

if PROTOCOL == V0_9:
    from .._enums_v0_9 import ApiCommand
else:
    from .._enums_v0_12 import ApiCommand  # type: ignore[assignment]

__all__ = ["ApiCommand"]
