"""Helpers of the reference's ``util`` module."""

import json
import math
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from enum import Enum, IntEnum
from typing import Any, Type, TypeVar
from uuid import UUID

T = TypeVar("T", bound=IntEnum)


def resolve_enum(enum_type: Type[T], value: str) -> T:
    """An ``IntEnum`` member from a number, an exact name or a unique name prefix."""
    try:
        return enum_type(int(value))
    except (ValueError, KeyError):
        pass
    try:
        return enum_type[value]
    except KeyError:
        pass
    matches = [m for m in enum_type if m.name.lower().startswith(value.lower())]
    if len(matches) == 1:
        return matches[0]
    names = ", ".join(m.name for m in (matches or list(enum_type)))
    if not matches:
        raise ValueError(f"'{value}' does not match any {enum_type.__name__} member. Valid: {names}")
    raise ValueError(f"'{value}' is ambiguous, matches: {names}")


def prepare_for_serialization(obj: Any) -> Any:
    """JSON-native values for dataclasses, enums, UUIDs, dates and times (as
    the reference); NaN and infinities become None; other types are left for
    ``json.dumps`` to refuse."""
    if isinstance(obj, dict):
        return {k: prepare_for_serialization(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [prepare_for_serialization(v) for v in obj]
    if is_dataclass(obj) and not isinstance(obj, type):
        return prepare_for_serialization(asdict(obj))
    if isinstance(obj, UUID):
        return str(obj)
    if isinstance(obj, datetime):
        return obj.timestamp()
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    return obj


def get_ip4_addr_str() -> str:
    """This machine's IPv4 address on its default route ("127.0.0.1" without one).

    A UDP socket "connected" to a public address (nothing is sent) reports
    the local address the system would use."""
    import socket

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("8.8.8.8", 80))
        return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


class UUIDEncoder(json.JSONEncoder):
    """0.9.11's JSON encoder: UUIDs as text, datetimes as timestamps."""

    def default(self, o):
        if isinstance(o, UUID):
            return str(o)
        if isinstance(o, datetime):
            return o.timestamp()
        return super().default(o)


_json_encoder_patched = False


def patch_uuid_encoder() -> None:
    """0.9.11's: makes every ``json`` encoder write UUIDs and datetimes as ``UUIDEncoder`` does."""
    global _json_encoder_patched
    if not _json_encoder_patched:
        json.JSONEncoder.default = UUIDEncoder.default  # type: ignore[method-assign]
        _json_encoder_patched = True
