"""``ApiCommandRequest``, as the reference's dataclass."""

from dataclasses import dataclass
from typing import Any, Optional

from .api_command import ApiCommand


@dataclass(frozen=True)
class ApiCommandRequest:
    """A command request: the command and its data (snake_case keys).

    ``command`` is an ``ApiCommand`` member, or the number the client sent
    when it is not one (the reference turned it into USER_DEFINED)."""

    command: ApiCommand
    custom_command: int = -1
    nonce: int = -1
    data: Optional[Any] = None

    @classmethod
    def parse_object(cls, obj: Any) -> Optional["ApiCommandRequest"]:
        """A request from a decoded (snake_case) JSON object, or None without ``command``."""
        if not isinstance(obj, dict) or "command" not in obj:
            return None
        command = obj["command"]
        if ApiCommand.is_member(command):  # type: ignore[attr-defined]
            command = ApiCommand(command)
        return cls(
            command=command,
            custom_command=obj.get("custom_command", -1),
            nonce=obj.get("nonce", 0),
            data=obj.get("data"),
        )
