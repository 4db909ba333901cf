"""0.12's ``ApiEvent`` and ``ApiEventDict``."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Optional

from typing_extensions import TypedDict

from .api_event_kind import ApiEventKind

__all__ = ["ApiEvent", "ApiEventDict", "ApiEventKind"]


class ApiEventDict(TypedDict):
    kind: ApiEventKind
    when: datetime
    index: int
    context: Optional[Mapping[str, Any]]


@dataclass(frozen=True)
class ApiEvent:
    """An event: its kind, when it happened, a precise index
    (``time.perf_counter_ns()``), an optional context, and how many more
    times it repeated."""

    kind: ApiEventKind
    when: datetime
    index: int
    context: Optional[Mapping[str, Any]] = None
    repeat: int = 0

    def is_same(self, info: "ApiEvent") -> bool:
        """Whether ``info`` is the same event at another time (kind and context)."""
        return self.kind == info.kind and self.context == info.context
