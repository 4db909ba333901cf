"""``ApiCommandRequestResult`` (spelled ``ApiCommandReqeustResult`` in 0.9.11)."""

from .._enums_shared import ApiCommandRequestResult

__all__ = ["ApiCommandRequestResult"]
