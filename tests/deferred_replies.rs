//! Deferred replies ([`RequestContext::defer`]) over real sockets: the
//! command loop serves other peers (pyzmq REQ processes, an emergency stop
//! included) while a reply waits for the app; every ending of a deferred
//! reply gives the peer exactly one well-formed reply (the app's, the
//! timeout reply, the reply for a dropped handle, the reply at stop);
//! replies to one DEALER peer go out in the order the app sends them; a
//! signed request's deferred reply is signed; a deferred pending command
//! publishes its COMMAND_RESULT.
//!
//! No test asserts a duration: that other peers are not held up is shown by
//! order (their replies come while the deferred one is still held).

mod common;

use std::sync::mpsc;
use std::time::Duration;

use auto_trainer_api::{
    sign_frames, verify_signed_frames, ApiCommand, ApiCommandRequest, ApiCommandRequestResponse,
    ApiTopic, DeferredReply, Error, KeyRing, RequestContext, RpcOptions, RpcService, SigningKey,
    ZeroMqRpcService, ERROR_CODE_REPLY_TIMEOUT,
};
use common::python::PyProcess;
use common::zmq_client::{joined, parse_json, ReqClient};
use serde_json::{json, Value};

/// A failure deadline only: how long a test waits for what must happen.
const WAIT: Duration = Duration::from_secs(10);

const START: i64 = ApiCommand::StartAcquisition.value();
const GET_STATUS: i64 = ApiCommand::GetStatus.value();
const EMERGENCY_STOP: i64 = ApiCommand::EmergencyStop.value();

/// A started service whose delegate defers START (handing the reply to the
/// test through the returned channel, with `timeout`) and answers every
/// other command at once with SUCCESS and `{"answered": <command>}`.
fn deferring_service(
    options: RpcOptions,
    timeout: Duration,
) -> (ZeroMqRpcService, mpsc::Receiver<DeferredReply>) {
    let service = ZeroMqRpcService::new(options);
    let (handles, deferred) = mpsc::channel();
    let handles = std::sync::Mutex::new(handles);
    service.set_delegate(
        move |request: ApiCommandRequest, context: &RequestContext| {
            if request.command == ApiCommand::StartAcquisition {
                let reply = context.defer(timeout);
                handles.lock().unwrap().send(reply).unwrap();
                // Not sent: the reply is deferred.
                return ApiCommandRequestResponse::unrecognized();
            }
            ApiCommandRequestResponse::success()
                .with_data(&json!({"answered": request.command.value()}))
        },
    );
    service.start().expect("start the service");
    (service, deferred)
}

fn quiet_options() -> RpcOptions {
    let mut options = RpcOptions::loopback();
    options.heartbeat_interval = Duration::from_secs(3600);
    options
}

fn request(command: i64, nonce: i64) -> Vec<u8> {
    json!({"command": command, "nonce": nonce})
        .to_string()
        .into_bytes()
}

/// A pyzmq REQ peer of `service` (tests/python/zmq_peer.py).
fn python_req(service: &ZeroMqRpcService) -> PyProcess {
    let endpoint = format!("tcp://127.0.0.1:{}", service.command_port());
    PyProcess::spawn(
        "zmq_peer",
        &["req", "--endpoint", &endpoint, "--timeout", "30"],
    )
}

fn send_python(peer: &mut PyProcess, command: i64, nonce: i64) {
    let text = String::from_utf8(request(command, nonce)).unwrap();
    peer.send_line(&json!({ "text": text }));
}

fn python_reply(peer: &mut PyProcess) -> Value {
    let line = peer
        .next_line(WAIT)
        .expect("the pyzmq peer printed nothing");
    let text = line["reply"]
        .as_str()
        .unwrap_or_else(|| panic!("no reply: {line}"));
    serde_json::from_str(text).expect("the reply is JSON")
}

fn next_handle(deferred: &mpsc::Receiver<DeferredReply>) -> DeferredReply {
    deferred
        .recv_timeout(WAIT)
        .expect("the delegate deferred a reply")
}

#[test]
fn other_peers_and_an_emergency_stop_are_answered_while_a_reply_is_deferred() {
    let (service, deferred) = deferring_service(quiet_options(), Duration::from_secs(60));
    let mut waiting = python_req(&service);
    let mut other = python_req(&service);
    let mut emergency = python_req(&service);

    send_python(&mut waiting, START, 11);
    let held = next_handle(&deferred);
    assert_eq!((held.nonce(), held.command().value()), (11, START));

    // While START's reply is held, the other peers get theirs.
    send_python(&mut other, GET_STATUS, 12);
    let status = python_reply(&mut other);
    assert_eq!(
        (&status["nonce"], &status["result"]),
        (&json!(12), &json!(100))
    );
    assert_eq!(status["data"], json!({"answered": GET_STATUS}));
    send_python(&mut emergency, EMERGENCY_STOP, 13);
    let stopped = python_reply(&mut emergency);
    assert_eq!(
        (&stopped["nonce"], &stopped["result"]),
        (&json!(13), &json!(100))
    );
    assert_eq!(service.stats().deferred_open, 1);

    // Now the app answers START, with data of its own.
    held.send(ApiCommandRequestResponse::success().with_data(&json!({"fromTheApp": 1})))
        .expect("the reply is still open");
    let started = python_reply(&mut waiting);
    assert_eq!(started["nonce"], 11);
    assert_eq!(started["command"], START);
    assert_eq!(started["result"], 100);
    assert_eq!(started["errorKind"], 0);
    assert_eq!(started["data"], json!({"fromTheApp": 1}));
    // The same peer goes on as usual: its REQ socket got exactly one reply.
    send_python(&mut waiting, GET_STATUS, 14);
    assert_eq!(python_reply(&mut waiting)["nonce"], 14);
    assert_eq!(service.stats().deferred_open, 0);
}

#[test]
fn a_reply_not_sent_by_its_deadline_is_a_timeout_reply_and_a_late_send_fails() {
    let (service, deferred) = deferring_service(quiet_options(), Duration::from_millis(200));
    let mut client = ReqClient::connect(service.command_port());

    let reply = parse_json(&client.request(&request(START, 21)));
    let late = next_handle(&deferred);
    assert_eq!(reply["nonce"], 21);
    assert_eq!(reply["command"], START);
    assert_eq!(reply["result"], 400, "FAILED: {reply}");
    assert_eq!(reply["errorKind"], 1, "SYSTEM_ERROR: {reply}");
    assert_eq!(reply["errorCode"], ERROR_CODE_REPLY_TIMEOUT);
    assert!(
        reply["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("no reply from the app within")),
        "{reply}"
    );
    assert!(!late.is_open());
    assert!(matches!(
        late.send(ApiCommandRequestResponse::success()),
        Err(Error::ReplyClosed { nonce: 21 })
    ));
    let stats = service.stats();
    assert_eq!((stats.deferred_timed_out, stats.deferred_open), (1, 0));
    // The late send reached nobody: the next request gets its own reply.
    assert_eq!(
        parse_json(&client.request(&request(GET_STATUS, 22)))["nonce"],
        22
    );
}

#[test]
fn a_handle_dropped_unsent_answers_exception_at_once() {
    let (service, deferred) = deferring_service(quiet_options(), Duration::from_secs(60));
    let mut client = ReqClient::connect(service.command_port());
    let (replies, reply) = mpsc::channel();
    let port = service.command_port();
    let asker = std::thread::spawn(move || {
        let mut client = ReqClient::connect(port);
        replies
            .send(parse_json(&client.request(&request(START, 31))))
            .unwrap();
    });
    drop(next_handle(&deferred));
    let reply = reply.recv_timeout(WAIT).expect("a reply after the drop");
    asker.join().unwrap();
    assert_eq!(
        (&reply["nonce"], &reply["result"]),
        (&json!(31), &json!(500)),
        "{reply}"
    );
    assert!(reply["errorMessage"]
        .as_str()
        .is_some_and(|m| m.contains("dropped")));
    assert_eq!(
        parse_json(&client.request(&request(GET_STATUS, 32)))["nonce"],
        32
    );
}

#[test]
fn stop_answers_outstanding_deferred_requests_unavailable() {
    let (service, deferred) = deferring_service(quiet_options(), Duration::from_secs(60));
    let port = service.command_port();
    let asker = std::thread::spawn(move || {
        let mut client = ReqClient::connect(port);
        parse_json(&client.request(&request(START, 41)))
    });
    let held = next_handle(&deferred);
    service.stop();
    let reply = asker.join().unwrap();
    assert_eq!(
        (&reply["nonce"], &reply["result"]),
        (&json!(41), &json!(9999)),
        "{reply}"
    );
    assert_eq!(reply["errorKind"], 1);
    assert!(matches!(
        held.send(ApiCommandRequestResponse::success()),
        Err(Error::ReplyClosed { nonce: 41 })
    ));
}

#[test]
fn replies_to_one_dealer_go_out_as_the_app_sends_them() {
    let (service, deferred) = deferring_service(quiet_options(), Duration::from_secs(60));
    let context = zmq::Context::new();
    let dealer = context.socket(zmq::DEALER).unwrap();
    dealer.set_linger(0).unwrap();
    dealer.set_rcvtimeo(10_000).unwrap();
    dealer
        .connect(&format!("tcp://127.0.0.1:{}", service.command_port()))
        .unwrap();
    // Two requests in flight from one peer (REQ's framing: empty delimiter first).
    dealer
        .send_multipart([&b""[..], &request(START, 51)[..]], 0)
        .unwrap();
    let held = next_handle(&deferred);
    dealer
        .send_multipart([&b""[..], &request(GET_STATUS, 52)[..]], 0)
        .unwrap();
    let first = dealer.recv_multipart(0).expect("a reply");
    assert_eq!(parse_json(&first[1])["nonce"], 52, "the quick reply first");
    held.send(ApiCommandRequestResponse::success()).unwrap();
    let second = dealer.recv_multipart(0).expect("the deferred reply");
    assert_eq!(first[0], b"", "REQ framing kept");
    assert_eq!(parse_json(&second[1])["nonce"], 51);
}

#[test]
fn a_signed_requests_deferred_reply_is_signed_with_its_key() {
    let key = SigningKey::new("ops-1", [5; 32]);
    let mut options = quiet_options();
    options.keys = Some(
        KeyRing::new()
            .with_key(key.clone(), "operator")
            .with_role("operator", ["*"]),
    );
    let (service, deferred) = deferring_service(options, Duration::from_secs(60));
    let port = service.command_port();
    let signed = sign_frames(&key, &request(START, 61));
    let asker = std::thread::spawn(move || {
        let mut client = ReqClient::connect(port);
        let frames: Vec<&[u8]> = signed.iter().map(Vec::as_slice).collect();
        client.try_request_frames(&frames).expect("a reply")
    });
    next_handle(&deferred)
        .send(ApiCommandRequestResponse::success())
        .unwrap();
    let reply = asker.join().unwrap();
    let body = verify_signed_frames(&key, &reply).expect("signed with the requester's key");
    assert_eq!(parse_json(body)["nonce"], 61);
}

#[test]
fn a_deferred_pending_reply_is_followed_by_its_command_result() {
    let (service, deferred) = deferring_service(quiet_options(), Duration::from_secs(60));
    let results = joined(&service, &[]);
    let mut client = ReqClient::connect(service.command_port());

    let port = service.command_port();
    let asker = std::thread::spawn(move || {
        let mut client = ReqClient::connect(port);
        parse_json(&client.request(&request(START, 71)))
    });
    let held = next_handle(&deferred);
    let completion = held.accept_pending();
    held.send(ApiCommandRequestResponse::pending_with_notification())
        .unwrap();
    let reply = asker.join().unwrap();
    assert_eq!(
        (&reply["nonce"], &reply["result"]),
        (&json!(71), &json!(201))
    );
    assert_eq!(service.pending_commands().len(), 1);

    completion
        .complete(ApiCommandRequestResponse::success().with_data(&json!({"done": true})))
        .unwrap();
    let result = results.expect_topic(ApiTopic::CommandResult.value());
    let result = result.json();
    assert_eq!(
        (&result["nonce"], &result["command"]),
        (&json!(71), &json!(START))
    );
    assert_eq!(result["data"], json!({"done": true}));
    assert!(service.pending_commands().is_empty());
    assert_eq!(
        parse_json(&client.request(&request(GET_STATUS, 72)))["nonce"],
        72
    );
}
