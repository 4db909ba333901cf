"""0.12's typed payloads and ``build_event``, generated from our JSON Schema,
against the reference's own modules: the same TypedDicts (names, required
and optional keys), the same string enums, one overload per kind with the
reference's context type, and events it builds publish the reference's bytes."""

import json
import pathlib
import subprocess
import sys
import typing

import pytest

from conftest import GENERATION, Req, Sub, rpc_options

pytestmark = pytest.mark.skipif(GENERATION != "0.12", reason="0.12's payloads: run beside the 0.12 reference")

GENERATOR = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "generate_payloads.py"


def test_the_modules_match_the_schema():
    checked = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_every_payload_type_is_the_references():
    from autotrainer.api.event import api_event_payloads as theirs
    from autotrainer_rs.api.event import api_event_payloads as ours

    for name in theirs.__all__:
        reference, mine = getattr(theirs, name), getattr(ours, name)
        if hasattr(reference, "__required_keys__"):
            assert (mine.__required_keys__, mine.__optional_keys__) == (
                reference.__required_keys__, reference.__optional_keys__), name
        elif isinstance(reference, type) and issubclass(reference, str):
            assert {m.name: m.value for m in reference} == {m.name: m.value for m in mine}, name


def context_of(overload) -> str:
    hints = typing.get_type_hints(overload)
    kind = typing.get_args(hints["kind"])[0]
    return kind.name, repr(hints.get("context", type(None))).replace("typing.", "").split(".")[-1]


def test_build_event_has_one_overload_per_kind_with_the_references_context():
    from autotrainer.api.event.build_event import build_event as theirs
    from autotrainer_rs.api.event.build_event import build_event as ours

    reference = dict(context_of(o) for o in typing.get_overloads(theirs))
    mine = dict(context_of(o) for o in typing.get_overloads(ours))
    assert mine == reference


def test_events_built_by_both_publish_the_same_bytes():
    import autotrainer.api as reference
    import autotrainer_rs.api as ours
    from autotrainer_rs.api.event import api_event_payloads as p

    contexts = {
        "emergencyStop": p.EmergencyStopContext(reason="door", reason_code=101, active_alarms=[101]),
        "trialStarted": {"session_id": "s-1", "trial_id": 3, "reason": "auto"},
        "applicationLaunched": p.VersionContext(version="1.2.3"),
        "intertrialPelletShift": {"session_id": "s", "trial_id": 1, "batch_id": None, "source": 1,
                        "shift": {"x": 0.5, "y": -1.0, "z": 2.25}, "deferred": False},
    }
    published = []
    for api in (reference, ours):
        service = api.create_api_service(api.ApiOptions(rpc=rpc_options(api)))
        service.start()
        sub = Sub(service.subscriber_port)
        try:
            kind0 = api.ApiEventKind.applicationLaunched
            sub.join(lambda n: service.send_event_dict({"kind": kind0, "when": 1.0, "index": n, "context": None}),
                     lambda topic, body, n: topic == 4001 and body.get("index") == n)
            frames = []
            for n, (name, context) in enumerate(contexts.items()):
                event = api.event.build_event(api.ApiEventKind[name], context)
                event.update(when=1000.5 + n, index=n)
                service.send_event_dict(event)
                frames.append(sub.next())
                if name == "emergencyStop":
                    frames.append(sub.next())
            published.append(frames)
        finally:
            sub.close()
            service.stop()
    assert published[1] == published[0]
