"""Prints every IntEnum of the installed reference package as one JSON object:
{enum name: {member or alias name: [number, canonical name]}}, aliases
included (IntEnum's __members__; an alias's canonical name is the member it
stands for), so tests compare our catalogs with the reference's own."""

import enum
import importlib
import json
import pkgutil
import sys

import autotrainer.api as api

catalogs = {}
for module_info in pkgutil.walk_packages(api.__path__, api.__name__ + "."):
    try:
        module = importlib.import_module(module_info.name)
    except ImportError:
        # Optional extras (0.12's Socket.IO bridge, telemetry) are not
        # installed; they declare no catalog.
        continue
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, enum.IntEnum)
            and value.__module__ == module.__name__
        ):
            catalogs[value.__qualname__] = {
                name: [int(member), member.name]
                for name, member in value.__members__.items()
            }
json.dump(catalogs, sys.stdout, sort_keys=True)
print()
