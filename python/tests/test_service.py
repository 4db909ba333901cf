"""Our package beyond byte equality: threads and the GIL, pending commands
completed from Python threads, deferred replies, stop with work
outstanding, stats, Ctrl-C, both generations' names."""

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import asdict

import autotrainer_rs.api as api
import pytest
from autotrainer_rs.api import ApiCommandRequestResponse, ApiTopic

from conftest import GENERATION, WAIT_MS, Req, Sub, rpc_options

V0_9 = GENERATION == "0.9.11"
Result = api.ApiCommandRequestResult
PENDING_COMMAND = api.ApiCommand.START_ACQUISITION if V0_9 else api.ApiCommand.SET_APPLICATION_MODE


@pytest.fixture
def service():
    made = []

    def start(delegate, **options):
        service = api.create_api_service(api.ApiOptions(rpc=rpc_options(api, **options)))
        service.command_request_delegate = delegate
        service.start()
        made.append(service)
        return service

    yield start
    for service in made:
        service.stop()


def joined_sub(service) -> Sub:
    sub = Sub(service.subscriber_port)
    sub.join(lambda n: service.send_dict(ApiTopic.PROPERTY_CHANGE, {"probe": n}),
             lambda topic, body, n: body == {"probe": n})
    return sub


def test_a_pending_command_is_completed_from_a_python_thread(service, peers):
    workers = []

    def delegate(request, context):
        done = context.accept_pending()
        worker = threading.Thread(
            target=lambda: done.complete(ApiCommandRequestResponse(result=Result.SUCCESS, data={"took": "a while"})))
        workers.append(worker)
        worker.start()
        return ApiCommandRequestResponse(result=Result.PENDING_WITH_NOTIFICATION)

    device = service(delegate)
    sub = joined_sub(device)
    req = Req(device.command_port)
    peers += [sub, req]
    reply = req.command(int(PENDING_COMMAND), 41)
    assert (reply["result"], reply["nonce"]) == (201, 41)
    topic, body = sub.next()
    result = json.loads(body)
    assert topic == ApiTopic.COMMAND_RESULT
    assert (result["nonce"], result["command"], result["data"]) == (41, int(PENDING_COMMAND), {"took": "a while"})
    for worker in workers:
        worker.join()
    assert device.pending_commands() == []


def test_a_deferred_reply_leaves_the_service_serving_other_peers(service, peers):
    held = []
    arrived = threading.Event()

    def delegate(request, context):
        if request.command == PENDING_COMMAND:
            held.append(context.defer(30.0))
            arrived.set()
            return ApiCommandRequestResponse(result=Result.UNRECOGNIZED)  # not sent
        return ApiCommandRequestResponse(result=Result.SUCCESS, data={"quick": int(request.command)})

    device = service(delegate)
    waiting, other = Req(device.command_port), Req(device.command_port)
    peers += [waiting, other]
    waiting.socket.send(json.dumps({"command": int(PENDING_COMMAND), "nonce": 51}).encode())
    assert arrived.wait(WAIT_MS / 1000)
    # While the first reply is held, the other peer and an emergency stop are answered.
    assert other.command(int(api.ApiCommand.GET_STATUS), 52)["data"] == {"quick": int(api.ApiCommand.GET_STATUS)}
    assert other.command(int(api.ApiCommand.EMERGENCY_STOP), 53)["result"] == 100
    assert device.stats()["deferred_open"] == 1
    threading.Thread(target=lambda: held[0].send(ApiCommandRequestResponse(result=Result.SUCCESS, data={"late": True}))).start()
    assert waiting.socket.poll(WAIT_MS)
    reply = json.loads(waiting.socket.recv())
    assert (reply["nonce"], reply["data"]) == (51, {"late": True})
    with pytest.raises(RuntimeError):
        held[0].send(ApiCommandRequestResponse(result=Result.SUCCESS))


def test_publishing_from_many_threads_garbles_no_frame(service, peers):
    device = service(lambda request: ApiCommandRequestResponse(result=Result.SUCCESS))
    sub = joined_sub(device)
    peers.append(sub)
    threads, per_thread = 8, 500

    def publish(t):
        for i in range(per_thread):
            assert device.send_dict(ApiTopic.PROPERTY_CHANGE, {"thread_id": t, "i": i, "pad": "x" * (i % 64)})

    workers = [threading.Thread(target=publish, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seen = {t: [] for t in range(threads)}
    for _ in range(threads * per_thread):
        topic, body = sub.next()
        message = json.loads(body)
        assert topic == ApiTopic.PROPERTY_CHANGE and set(message) == {"threadId", "i", "pad"}, message
        seen[message["threadId"]].append(message["i"])
    # Each thread's messages arrive whole and in its order.
    assert all(order == list(range(per_thread)) for order in seen.values())
    assert device.stats()["dropped"] == 0


def test_stop_settles_pending_commands_and_deferred_replies(service, peers):
    handles = []

    def delegate(request, context):
        if request.command == api.ApiCommand.GET_STATUS:
            handles.append(context.defer(30.0))
            return ApiCommandRequestResponse(result=Result.UNRECOGNIZED)
        handles.append(context.accept_pending())
        return ApiCommandRequestResponse(result=Result.PENDING_WITH_NOTIFICATION)

    device = service(delegate)
    sub = joined_sub(device)
    req, deferred_peer = Req(device.command_port), Req(device.command_port)
    peers += [sub, req, deferred_peer]
    assert req.command(int(PENDING_COMMAND), 61)["result"] == 201
    deferred_peer.socket.send(json.dumps({"command": int(api.ApiCommand.GET_STATUS), "nonce": 62}).encode())
    while len(handles) < 2:
        assert deferred_peer.socket.poll(10) == 0
    device.stop()
    # The deferred request is answered UNAVAILABLE; the pending one's result is FAILED.
    assert deferred_peer.socket.poll(WAIT_MS)
    assert json.loads(deferred_peer.socket.recv())["result"] == 9999
    topic, body = sub.next()
    assert topic == ApiTopic.COMMAND_RESULT and json.loads(body)["nonce"] == 61 and json.loads(body)["result"] == 400
    with pytest.raises(RuntimeError):
        handles[0].complete(ApiCommandRequestResponse(result=Result.SUCCESS))


def test_a_raising_delegate_gets_the_exception_reply_and_the_service_goes_on(service, peers):
    calls = []

    def delegate(request):
        calls.append(request)
        if len(calls) == 1:
            raise KeyError("no such animal")
        return ApiCommandRequestResponse(result=Result.SUCCESS)

    device = service(delegate)
    req = Req(device.command_port)
    peers.append(req)
    first = req.command(int(api.ApiCommand.GET_STATUS), 71)
    assert (first["result"], first["errorKind"], first["errorCode"]) == (500, 0, 0)
    assert first["errorMessage"] == str(KeyError("no such animal"))
    assert req.command(int(api.ApiCommand.GET_STATUS), 72)["result"] == 100


def test_names_follow_the_reference_and_the_generation():
    assert api.ApiCommand(400) is api.ApiCommand.GET_STATUS
    assert api.ApiCommand.GET_STATUS == 400 and api.ApiCommand.GET_STATUS.name == "GET_STATUS"
    assert api.ApiCommandReqeustResult is api.ApiCommandRequestResult
    assert api.ApiCommand.is_member(400) and not api.ApiCommand.is_member(4242)
    from autotrainer_rs.api.api_event_kind import ApiEventKind as V09Kinds
    from autotrainer_rs.api.event.api_event_kind import ApiEventKind as V012Kinds
    assert api.ApiEventKind is (V09Kinds if V0_9 else V012Kinds)
    assert api.ApiCommand.START_ACQUISITION == (100 if V0_9 else 50)


def test_ctrl_c_interrupts_an_app_serving_commands():
    """A Python app blocked in its main loop while the service runs still
    gets KeyboardInterrupt from SIGINT, and exits after stopping."""
    script = (
        "import sys, time\n"
        "import autotrainer_rs.api as api\n"
        "from autotrainer_rs.api.api_options import RpcOptions\n"
        "s = api.create_api_service(api.ApiOptions(rpc=RpcOptions(subscriber_port=0, command_port=0, bind_addresses=('127.0.0.1',))))\n"
        "s.command_request_delegate = lambda r: api.ApiCommandRequestResponse(result=api.ApiCommandRequestResult.SUCCESS)\n"
        "s.start()\n"
        "try:\n"
        "    print('serving', flush=True)\n"
        "    while True: time.sleep(0.05)\n"
        "except KeyboardInterrupt:\n"
        "    s.stop(); print('interrupted', flush=True)\n"
    )
    app = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert app.stdout.readline().strip() == "serving"
        app.send_signal(signal.SIGINT)
        assert app.stdout.readline().strip() == "interrupted"
        assert app.wait(WAIT_MS / 1000) == 0
    finally:
        app.kill()


def test_a_signed_device_refuses_unsigned_requests(service, peers, tmp_path):
    keys = tmp_path / "keys.toml"
    keys.write_text('[[key]]\nid = "ops-1"\nsecret = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="\nrole = "operator"\n\n[roles]\noperator = ["*"]\n')
    device = service(lambda request: ApiCommandRequestResponse(result=Result.SUCCESS), key_file=str(keys))
    req = Req(device.command_port)
    peers.append(req)
    refused = req.command(int(api.ApiCommand.GET_STATUS), 81)
    assert (refused["result"], refused["errorCode"]) == (400, 401)
    assert device.stats()["refused_unauthenticated"] == 1
    assert device.reload_keys() == 1


def test_asdict_of_our_dataclasses_is_what_the_reference_publishes():
    response = ApiCommandRequestResponse(result=Result.SUCCESS, data={"a": 1}, nonce=3)
    assert asdict(response) == {"result": Result.SUCCESS, "data": {"a": 1}, "error_code": 0, "error_message": None,
                                "command": api.ApiCommand.NONE, "nonce": 3}


def test_stop_releases_the_gil_for_a_delegate_still_running():
    """stop() waits for the command thread while a delegate is still in
    Python: if stop held the GIL, neither the timer that frees the delegate
    nor the delegate could run, and the app would hang (run in a child
    process, so a hang fails the test instead of wedging it)."""
    script = (
        "import json, threading, zmq\n"
        "import autotrainer_rs.api as api\n"
        "from autotrainer_rs.api.api_options import RpcOptions\n"
        "entered, release = threading.Event(), threading.Event()\n"
        "def delegate(request):\n"
        "    entered.set(); release.wait()\n"
        "    return api.ApiCommandRequestResponse(result=api.ApiCommandRequestResult.SUCCESS)\n"
        "s = api.create_api_service(api.ApiOptions(rpc=RpcOptions(subscriber_port=0, command_port=0, bind_addresses=('127.0.0.1',))))\n"
        "s.command_request_delegate = delegate\n"
        "s.start()\n"
        "req = zmq.Context.instance().socket(zmq.REQ)\n"
        "req.connect(f'tcp://127.0.0.1:{s.command_port}')\n"
        "req.send(json.dumps({'command': 400, 'nonce': 1}).encode())\n"
        "entered.wait()\n"
        "threading.Timer(0.05, release.set).start()\n"
        "s.stop()\n"
        "print(json.loads(req.recv())['result'], flush=True)\n"
    )
    app = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=WAIT_MS / 1000 * 3)
    assert app.returncode == 0, app.stderr
    assert app.stdout.strip() == "100"
