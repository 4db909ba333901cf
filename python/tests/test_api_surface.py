"""Every module of the reference installed beside us has its namesake under
``autotrainer_rs``, with the same public names, and its enums with the same
members: an app switches by changing its import lines only. What is not
there yet is listed here, and fails the test once it is there (so the list
stays true)."""

import enum
import importlib
import inspect
import pkgutil

import autotrainer.api

from conftest import GENERATION

# Modules and names of the reference not provided (yet), by generation.
NOT_PROVIDED = {
    "0.9.11": {
        # OpenTelemetry: the reference never calls it (create_api_service has it commented out).
        "autotrainer.api.telemetry": {"configure_telemetry"},
        "autotrainer.api.telemetry.open_telemetry_service": "*",
        # The reference's service internals: the Rust core does their work.
        "autotrainer.api.rpc_service": {"ApiCommandRequestServiceResponse", "ApiMessageQueueService",
                                        "ApiCommandRequestService", "ApiCommandRequestSystemErrorSerialization",
                                        "NotificationEventKinds"},
        "autotrainer.api.zeromq.zeromq_api_service": {"ApiCommandRequestServiceResponse"},
    },
    "0.12": {
        "autotrainer.api.telemetry": {"configure_telemetry"},
        "autotrainer.api.telemetry.open_telemetry_service": "*",
        # The bridge is the Rust binary auto-trainer-bridge.
        "autotrainer.api.bridge": "*",
        "autotrainer.api.bridge.__main__": "*",
        "autotrainer.api.bridge.bridge_app": "*",
        "autotrainer.api.bridge.bridge_service": "*",
        "autotrainer.api.rpc_service": {"ApiMessageQueueService", "ApiCommandRequestService",
                                        "NotificationEventKinds", "ApiCommandRequestSystemErrorSerialization"},
    },
}


def public_names(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            n for n, v in vars(module).items()
            if not n.startswith("_") and not inspect.ismodule(v)
            and getattr(v, "__module__", module.__name__).startswith("autotrainer")
        ]
    return set(names)


def reference_module_names():
    yield "autotrainer.api"
    for info in pkgutil.walk_packages(autotrainer.api.__path__, "autotrainer.api.", onerror=lambda name: None):
        yield info.name


def test_every_reference_module_and_name_is_there():
    missing = []
    excused = NOT_PROVIDED[GENERATION]
    for name in reference_module_names():
        if excused.get(name) == "*" or name.startswith("autotrainer.api.bridge"):
            continue
        module = importlib.import_module(name)
        ours_name = name.replace("autotrainer.api", "autotrainer_rs.api", 1)
        try:
            ours = importlib.import_module(ours_name)
        except ModuleNotFoundError:
            missing.append(ours_name)
            continue
        for attribute in sorted(public_names(module) - set(excused.get(name, ()))):
            defined_in = getattr(getattr(module, attribute), "__module__", None)
            if excused.get(defined_in) == "*":
                continue  # re-exported from a module not provided
            if not hasattr(ours, attribute):
                missing.append(f"{ours_name}.{attribute}")
                continue
            theirs, mine = getattr(module, attribute), getattr(ours, attribute)
            if inspect.isclass(theirs) and issubclass(theirs, enum.IntEnum):
                assert {m.name: m.value for m in theirs} == {m.name: m.value for m in mine}, f"{ours_name}.{attribute}"
                assert theirs.__members__.keys() == mine.__members__.keys(), f"aliases of {ours_name}.{attribute}"
    assert not missing, f"not in autotrainer_rs: {missing}"


def test_what_is_excused_is_really_missing():
    for name, names in NOT_PROVIDED[GENERATION].items():
        ours_name = name.replace("autotrainer.api", "autotrainer_rs.api", 1)
        try:
            ours = importlib.import_module(ours_name)
        except ModuleNotFoundError:
            continue
        assert names != "*", f"{ours_name} is there now: take it off NOT_PROVIDED"
        present = {n for n in names if hasattr(ours, n)}
        assert not present, f"{present} are in {ours_name} now: take them off NOT_PROVIDED"
