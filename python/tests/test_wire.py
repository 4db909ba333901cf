"""The same delegate and the same publishing calls, served by the reference
package and by ours, driven by the same pyzmq peers: the bytes on the wire
are equal, except where PROTOCOL.md says we fix a defect of the reference
(each such difference is asserted as the fix, not skipped)."""

import json
from dataclasses import asdict

import autotrainer.api as reference
import autotrainer_rs.api as ours
import humps

from conftest import GENERATION, Req, Sub, rpc_options

V0_9 = GENERATION == "0.9.11"


class Unserializable:
    """json.dumps cannot write it: the reply falls back to SYSTEM_ERROR."""


def delegate_for(api):
    """One delegate, written against `api` (either package), as an app would."""
    commands = api.ApiCommand
    Response = api.ApiCommandRequestResponse
    Result = api.ApiCommandReqeustResult if V0_9 else api.ApiCommandRequestResult
    pending = commands.START_ACQUISITION if V0_9 else commands.SET_APPLICATION_MODE

    def delegate(request):
        if request.command == commands.GET_STATUS:
            if V0_9:
                status = api.StatusResponse(api.command.status_response.ApiAppStatus.ACQUIRING,
                                            api.command.status_response.ApiTrainingMode.AUTOMATIC, "m001")
            else:
                status = {"application_mode": int(api.ApiApplicationMode.RUNNING), "animal": {"identifier": "m1"}}
            return Response(result=Result.SUCCESS, data=status)
        if request.command == commands.GET_CONFIGURATION:
            return Response(result=Result.FAILED, error_code=7, error_message="busy")
        if request.command == commands.EMERGENCY_STOP:
            return Response(result=Result.SUCCESS, data={"echo": request.data})
        if request.command == commands.EMERGENCY_RESUME:
            raise RuntimeError("resume refused")
        if request.command == pending:
            return Response(result=Result.PENDING_WITH_NOTIFICATION)
        if request.command == commands.USER_DEFINED:
            return Response(result=Result.SUCCESS, data=Unserializable())
        return Response(result=Result.UNRECOGNIZED)

    return delegate, pending, Response, Result


REQUESTS = [
    # (command, nonce, data): only what both answer the same way.
    (400, 1, None),
    (300, 2, None),
    (200, 3, {"reason_code": 1, "note": "operator", "nested": {"inner_key": [1, 2.5, None]}}),
    (210, 4, None),
    (99999, 5, {"custom": True}),
]


def run(api):
    """Serves the delegate with `api`, drives it, returns what went on the wire."""
    options = rpc_options(api)
    service = api.create_api_service(api.ApiOptions(rpc=options))
    delegate, pending, Response, Result = delegate_for(api)
    service.command_request_delegate = delegate
    service.start()
    req, sub = Req(service.command_port), Sub(service.subscriber_port)
    try:
        if V0_9:
            sub.join(lambda n: service.send_dict(api.ApiTopic.PROPERTY_CHANGE, {"probe": n}),
                     lambda topic, body, n: body == {"probe": n})
        else:
            kind = api.ApiEventKind.applicationLaunched
            sub.join(lambda n: service.send_event_dict({"kind": kind, "when": 1.5, "index": n, "context": {"probe": n}}),
                     lambda topic, body, n: topic == 4001 and body.get("index") == n)
        replies = [req.request(json.dumps({"command": c, "nonce": n, "data": d}).encode()) for c, n, d in REQUESTS]
        replies.append(req.request(json.dumps({"command": int(pending), "nonce": 6}).encode()))
        # The app publishes the pending command's result, and events.
        result = Response(result=Result.SUCCESS, data={"done": True}, command=pending, nonce=6)
        if V0_9:
            service.send_dict(api.ApiTopic.COMMAND_RESULT, asdict(result))
            service.send_dict(api.ApiTopic.EVENT, {"kind": int(api.ApiEventKind.emergencyStop), "when": 2.25, "index": 7, "context": {"by_whom": "op"}})
            service.send_string(api.ApiTopic.PROPERTY_CHANGE, '{"raw": "text as is"}')
            count = 4
        else:
            service.send_command_result(result)
            service.send_event(api.event.ApiEvent(kind=api.ApiEventKind.emergencyStop, when=2.25, index=7,
                                                  context={"reason": "op", "reason_code": 301}, repeat=2))
            count = 3
        published = [sub.next() for _ in range(count)]
        return replies, published
    finally:
        req.close()
        sub.close()
        service.stop()


def with_defect_4(reply: bytes) -> bytes:
    """A reply as 0.9.11 would have written it: it camelizes the whole text,
    values included (PROTOCOL.md, defect 4: "not acquiring" -> "notacquiring").
    0.12 camelizes keys only, as we do."""
    return humps.camelize(reply.decode("utf8")).encode("utf8") if V0_9 else reply


def test_replies_and_published_messages_are_the_references_bytes():
    theirs = run(reference)
    mine = run(ours)
    assert [with_defect_4(reply) for reply in mine[0]] == theirs[0]
    assert mine[1] == theirs[1]
    # The fix is visible where a value has spaces: ours keeps them.
    assert any(b"element of the response" in reply for reply in mine[0])


def test_the_fixes_of_the_reference_hold():
    """Where the reference is broken, ours is as PROTOCOL.md says."""
    options = rpc_options(ours)
    service = ours.create_api_service(ours.ApiOptions(rpc=options))
    delegate, *_ = delegate_for(ours)
    seen = []

    def recording(request):
        seen.append(request)
        return delegate(request)

    service.command_request_delegate = recording
    service.start()
    req = Req(service.command_port)
    try:
        # Malformed requests, each answered, the service serving on.
        malformed = [
            b"not json",  # not JSON
            b"\xff\xfe",  # not UTF-8
            b"",  # an empty frame
            b"[1, 2]",  # not an object
            b'{"nonce": 3}',  # no command
            b'{"command": "x"}',  # a command that is not a number
            b'{"command": 400, "nonce": 1.5}',  # a nonce that is not an integer
            b'{"command": 400, "data": "' + b"x" * (300 << 10) + b'"}',  # over max_request_bytes (256 KiB)
        ]
        for payload in malformed:
            reply = json.loads(req.request(payload))
            assert reply["result"] == 0 and reply["errorKind"] == 1 and reply["errorMessage"], (payload[:40], reply)
        # An uppercase escape (it killed 0.9.11's loop) is JSON: answered as usual.
        assert json.loads(req.request(b'{"command": 200, "nonce": 12, "data": "caf\\u00C9"}'))["data"] == {"echo": "caf\u00c9"}
        # Two frames where one is expected.
        req.socket.send_multipart([b'{"command": 400}', b"more"])
        assert req.socket.poll(10_000)
        assert json.loads(req.socket.recv())["errorKind"] == 1
        # Unknown numbers are echoed, and the delegate sees them.
        assert req.command(4242, 8)["command"] == 4242
        assert seen[-1].command == 4242
        # Values are never camelized (the reference: "m-001" -> "m001").
        assert req.command(200, 9, {"animal_id": "m-001", "note": "not acquiring"})["data"] == {
            "echo": {"animalId": "m-001", "note": "not acquiring"}
        }
        assert seen[-1].data == {"animal_id": "m-001", "note": "not acquiring"}
        # NONE is answered with its nonce (0.12's service answers nonce 0).
        assert req.command(0, 10)["nonce"] == 10
        assert service.stats()["malformed_requests"] == len(malformed) + 1
    finally:
        req.close()
        service.stop()
