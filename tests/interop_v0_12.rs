//! Our 0.12 generation against the REAL 0.12 reference (`auto-trainer-api`
//! 0.12.0 in the venv of `scripts/python-test-env.sh 0.12`): its own types
//! (`build_event`, the `*Context` TypedDicts, `ApiSystemStatus` and the other
//! dataclasses, its serializer) through `tests/python/reference_types_v0_12.py`,
//! its service through `tests/python/reference_service_v0_12.py`, and pyzmq
//! peers (`tests/python/zmq_peer.py`).
//!
//! Bytes must be identical except for the fixes PROTOCOL.md documents
//! ("Protocol generations"): NONE and malformed requests get their nonce
//! echoed, unknown commands are echoed (not 99999), malformed requests get
//! an errorMessage.

mod common;

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use auto_trainer_api::v0_12::kind::{self, EventKindMarker, MarkerVisitor};
use auto_trainer_api::{
    decode_payload, to_python_json, v0_12, ApiCommandRequestResponse, ApiCommandRequestResult,
    ApiTopic, Generation, RequestContext, RpcOptions, RpcService, ZeroMqRpcService,
};
use common::python::{assert_same_request, PyProcess};
use common::reference_v0_12::{
    animals_fields, configuration_fields, hex, reference_built_events, spawn, status_fields, text,
    unhex, Reference, STARTUP, WAIT,
};
use common::zmq_client::{
    expect_identical, first_heartbeats, heartbeat_template, joined, ReqClient,
};
use serde_json::{json, Value};

const HEARTBEAT: u32 = ApiTopic::Heartbeat.value();
const EMERGENCY: u32 = ApiTopic::Emergency.value();
const EVENT: u32 = ApiTopic::Event.value();
const COMMAND_RESULT: u32 = ApiTopic::CommandResult.value();

/// Reads an event's context with its kind's type and builds the event again
/// from that typed context with our `build_event`, keeping when, index and
/// repeat.
struct Rebuild<'a>(&'a v0_12::ApiEvent);

impl MarkerVisitor for Rebuild<'_> {
    type Output = Result<v0_12::ApiEvent, String>;

    fn visit<M: EventKindMarker>(self, kind: M) -> Self::Output {
        let context = self
            .0
            .context_of(kind)
            .ok_or("context_of: not its kind")?
            .map_err(|e| format!("context_of: {e}"))?;
        let mut event = v0_12::build_event(kind, context);
        event.when = self.0.when;
        event.index = self.0.index;
        event.repeat = self.0.repeat;
        Ok(event)
    }
}

/// Builds an event of a kind known at run time from a snake_case JSON
/// context read as the kind's type (what an app holds), with when, index
/// and repeat given.
struct FromJson {
    context: Value,
    when: f64,
    index: i64,
    repeat: i64,
}

impl MarkerVisitor for FromJson {
    type Output = v0_12::ApiEvent;

    fn visit<M: EventKindMarker>(self, kind: M) -> Self::Output {
        let context: M::Context = decode_payload(&self.context)
            .unwrap_or_else(|e| panic!("{:?}: {e}: {}", M::KIND, self.context));
        let mut event = v0_12::build_event(kind, context);
        event.when = self.when;
        event.index = self.index;
        event.repeat = self.repeat;
        event
    }
}

fn event_from_json(kind: v0_12::ApiEventKind, spec: &Value) -> v0_12::ApiEvent {
    let visitor = FromJson {
        context: spec["context"].clone(),
        when: spec["when"].as_f64().expect("when"),
        index: spec["index"].as_i64().expect("index"),
        repeat: spec["repeat"].as_i64().unwrap_or(0),
    };
    kind::visit(kind, visitor).expect("a 0.12 kind")
}

fn v0_12_options() -> RpcOptions {
    let mut options = RpcOptions::loopback();
    options.protocol = Generation::V0_12;
    options.heartbeat_interval = Duration::from_secs(3600);
    options
}

fn our_service() -> ZeroMqRpcService {
    let service = ZeroMqRpcService::new(v0_12_options());
    service.start().expect("start our 0.12 service");
    service
}

/// `reference_types_v0_12.py sub`: a pyzmq subscriber reading everything
/// into the reference's types, joined to our service (probes until one
/// arrives, then a fence read back).
fn reference_types_subscriber(service: &ZeroMqRpcService) -> PyProcess {
    let endpoint = format!("tcp://127.0.0.1:{}", service.subscriber_port());
    let sub = spawn(
        "reference_types_v0_12",
        &[
            "sub",
            "--endpoint",
            &endpoint,
            "--count",
            "1000000",
            "--timeout",
            "120",
        ],
    );
    sub.expect_ready(STARTUP);
    let deadline = Instant::now() + Duration::from_secs(15);
    for n in 0.. {
        assert!(
            Instant::now() < deadline,
            "the pyzmq subscriber never joined"
        );
        service
            .publish_json(ApiTopic::PropertyChange, json!({ "probe": n }))
            .unwrap();
        if sub.next_line(Duration::from_millis(50)).is_some() {
            break;
        }
    }
    fence_python(service, &sub);
    sub
}

/// Publishes a fence on PROPERTY_CHANGE and consumes the subscriber's lines
/// up to it; returns the lines before it.
fn fence_python(service: &ZeroMqRpcService, sub: &PyProcess) -> Vec<Value> {
    let fence = uuid::Uuid::new_v4().to_string();
    service
        .publish_json(ApiTopic::PropertyChange, json!({ "fence": fence }))
        .unwrap();
    let expected = format!(r#"{{"fence": "{fence}"}}"#);
    let mut before = Vec::new();
    loop {
        let line = sub
            .next_line(WAIT)
            .expect("the fence reached the subscriber");
        if line["body"].as_str() == Some(expected.as_str()) {
            return before;
        }
        before.push(line);
    }
}

// --- Every event kind, built by the reference ----------------------------------------------------

/// For every one of the 107 kinds (and a few more shapes: null contexts
/// where allowed, a NotRequired key left out): the reference's bytes decode
/// into our event, its context into the kind's type, and our `build_event`
/// of that typed context writes the very same bytes (but for one known
/// case: an int the Python app gave a float field comes back as a float,
/// `5` as `5.0`), through
/// `to_python_json` and through a real 0.12 service, where a pyzmq peer
/// reads them, its heartbeats and a command result back into the
/// reference's own types, which write them to the same bytes.
#[test]
fn every_reference_built_event_round_trips_through_our_types() {
    let built = reference_built_events();
    let mut kinds_seen = BTreeSet::new();
    let mut rebuilt = Vec::new();
    let mut failures = Vec::new();
    for b in &built {
        let event = v0_12::ApiEvent::from_wire(&b.event)
            .unwrap_or_else(|e| panic!("{}: {e}: {}", b.name, text(&b.event)));
        assert!(event.kind.is_known(), "{}: {:?}", b.name, event.kind);
        assert_eq!(event.kind.name(), Some(b.name.as_str()));
        assert_eq!(event.repeat, b.repeat, "{}", b.name);
        kinds_seen.insert(event.kind.value());
        let again = match kind::visit(event.kind, Rebuild(&event)).expect("a known kind") {
            Ok(again) => again,
            Err(why) => {
                failures.push(format!("{}: {why}\n  {}", b.name, text(&b.event)));
                continue;
            }
        };
        let ours = to_python_json(&again).unwrap();
        if text(&ours) != b.ours {
            failures.push(format!(
                "{}:\n  reference: {}\n       ours: {}",
                b.name,
                text(&b.event),
                text(&ours)
            ));
        }
        // `send_event_dict(build_event(...))` has no `repeat`: ours always
        // writes it in 0.12, as `send_event(ApiEvent)` does.
        let without_repeat = b
            .ours
            .replace(&format!(r#", "repeat": {}}}"#, b.repeat), "}");
        let reference_dict = text(&b.dict).replace(r#""intensity": 5}"#, r#""intensity": 5.0}"#);
        assert_eq!(reference_dict, without_repeat, "{}", b.name);
        rebuilt.push(again);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let all: BTreeSet<i64> = v0_12::ApiEventKind::ALL.iter().map(|k| k.value()).collect();
    assert_eq!(kinds_seen, all, "every 0.12 kind, no other");
    assert_eq!(all.len(), 107);

    // The same events published by a real 0.12 service, with heartbeats
    // and command results among them.
    let mut options = v0_12_options();
    options.heartbeat_interval = Duration::from_millis(50);
    let service = ZeroMqRpcService::new(options);
    service.start().unwrap();
    let ours = joined(&service, &[EMERGENCY, EVENT]);
    let python = reference_types_subscriber(&service);
    let mut expected = Vec::new();
    for (b, event) in built.iter().zip(rebuilt) {
        if event.is_emergency() {
            expected.push((EMERGENCY, b));
        }
        expected.push((EVENT, b));
        service.publish_event(event).unwrap();
    }
    service
        .publish_command_result(
            ApiCommandRequestResponse::failed(3, "disk full")
                .with_data(&json!({"frames_written": 10, "ratio": 0.1}))
                .for_request(v0_12::ApiCommand::SetTrainingMode, 41),
        )
        .unwrap();
    for (topic, b) in &expected {
        let got = ours.recv(WAIT).expect("our service published it");
        assert_eq!(got.topic(), Some(*topic), "{}", b.name);
        assert_eq!(text(got.body()), b.ours, "{}", b.name);
    }
    // The pyzmq peer's fence goes on PROPERTY_CHANGE, which ours does not
    // take; ours goes on EMERGENCY, after the peer's lines are read.
    // Read up to a heartbeat (one comes every 50 ms), then to a fence.
    let mut lines = Vec::new();
    while lines
        .last()
        .is_none_or(|line: &Value| line["topic"] != HEARTBEAT)
    {
        lines.push(
            python
                .next_line(WAIT)
                .expect("a heartbeat reached the peer"),
        );
    }
    lines.extend(fence_python(&service, &python));
    ours.expect_fence_next(|topic, body| {
        service
            .publish_json(ApiTopic::from_value(topic), body)
            .unwrap()
    });
    let mut read_back = |topic: u32| {
        let at = lines
            .iter()
            .position(|line| line["topic"] == topic)
            .unwrap_or_else(|| panic!("nothing on {topic}"));
        lines.remove(at)
    };
    let result = read_back(COMMAND_RESULT);
    assert_eq!(
        (&result["same"], &result["error"]),
        (&json!(true), &Value::Null),
        "{result}"
    );
    let heartbeat = read_back(HEARTBEAT);
    assert_eq!(
        (&heartbeat["same"], &heartbeat["error"]),
        (&json!(true), &Value::Null),
        "{heartbeat}"
    );
    for heartbeat in lines.iter().filter(|line| line["topic"] == HEARTBEAT) {
        assert_eq!(heartbeat["same"], true, "{heartbeat}");
    }
    lines.retain(|line| line["topic"] != HEARTBEAT);
    assert_eq!(lines.len(), expected.len());
    for ((topic, b), line) in expected.iter().zip(&lines) {
        assert_eq!(line["topic"], *topic, "{line}");
        assert_eq!(line["frames"], 2, "{line}");
        assert_eq!(line["name"], b.name.as_str(), "{line}");
        assert_eq!(line["error"], Value::Null, "{line}");
        assert_eq!(line["same"], true, "{line}");
    }
    service.stop();
}

// --- The 0.12 reference service -----------------------------------------------------------------

/// `zmq_peer.py req` in the 0.12 venv: a pyzmq REQ client.
struct PyReq {
    process: PyProcess,
}

impl PyReq {
    fn connect(port: u16) -> Self {
        let endpoint = format!("tcp://127.0.0.1:{port}");
        Self {
            process: spawn(
                "zmq_peer",
                &["req", "--endpoint", &endpoint, "--timeout", "5"],
            ),
        }
    }

    /// Sends `request`; the reply as text (panics on timeout).
    fn ask(&mut self, request: &[u8]) -> String {
        self.process.send_line(&json!({ "hex": hex(request) }));
        let line = self
            .process
            .next_line(STARTUP)
            .expect("zmq_peer printed nothing");
        let reply = line["reply_hex"]
            .as_str()
            .unwrap_or_else(|| panic!("no reply to {}: {line}", text(request)));
        String::from_utf8(unhex(reply)).expect("a UTF-8 reply")
    }
}

/// `reference_types_v0_12.py parse`: reads replies with the reference's types.
struct ReplyReader {
    process: PyProcess,
}

impl ReplyReader {
    fn start() -> Self {
        Self {
            process: spawn("reference_types_v0_12", &["parse"]),
        }
    }

    /// Requires the reference to read `reply` (its data as `data_type`)
    /// and write it back to the same bytes; returns its reading.
    fn expect_same(&mut self, reply: &str, data_type: Option<&str>) -> Value {
        self.process
            .send_line(&json!({"reply_hex": hex(reply.as_bytes()), "data_type": data_type}));
        let line = self
            .process
            .next_line(STARTUP)
            .expect("parse printed nothing");
        assert_eq!(line["error"], Value::Null, "{reply}: {line}");
        assert_eq!(line["same"], true, "{reply}: {line}");
        line
    }
}

/// The reference delegate's answers; ours are [`our_answer`].
fn answers() -> Value {
    json!({
        "50": {"result": 0},
        "120": {"result": 100, "data": {"mode": 100}},
        "130": {"result": 201},
        "200": {"raise": "boom"},
        "210": {"result": 400, "error_code": 3, "error_message": "not stopped"},
        "300": {"typed": {"type": "ApiSystemConfiguration", "fields": configuration_fields()}},
        "400": {"typed": {"type": "ApiSystemStatus", "fields": status_fields()}},
        "500": {"typed": {"type": "List[ApiAnimalStatus]", "fields": animals_fields()}},
        "1000": {"result": 100, "unserializable": true},
        "1070": {"result": 100, "data": {"enabled": true}},
        "1090": {"result": 200, "data": {"status_text": "not acquiring", "animal_id": "m-001", "values": [1, 2.5, "x", null, true]}},
        "99999": {"result": 100, "data": {"echo": "m-001"}}
    })
}

fn our_answer(request: &v0_12::ApiCommandRequest) -> ApiCommandRequestResponse {
    use v0_12::ApiCommand as C;
    match request.command {
        C::StartAcquisition => ApiCommandRequestResponse::unrecognized(),
        C::SetApplicationMode => ApiCommandRequestResponse::success().with_data(&json!({"mode": 100})),
        C::SetTrainingMode => ApiCommandRequestResponse::pending_with_notification(),
        C::EmergencyStop => panic!("boom"),
        C::EmergencyResume => ApiCommandRequestResponse::failed(3, "not stopped"),
        C::GetConfiguration => ApiCommandRequestResponse::success().with_data(
            &decode_payload::<v0_12::ApiSystemConfiguration>(&configuration_fields()).unwrap(),
        ),
        C::GetStatus => ApiCommandRequestResponse::success()
            .with_data(&decode_payload::<v0_12::ApiSystemStatus>(&status_fields()).unwrap()),
        C::GetAnimals => ApiCommandRequestResponse::success()
            .with_data(&decode_payload::<Vec<v0_12::ApiAnimalStatus>>(&animals_fields()).unwrap()),
        C::SetLiveAnalysisEnabled => {
            let mut unserializable = std::collections::BTreeMap::new();
            unserializable.insert((1, 2), "value");
            ApiCommandRequestResponse::success().with_data(&unserializable)
        }
        C::SetAutoClampEnabled => ApiCommandRequestResponse::success().with_data(&json!({"enabled": true})),
        C::SetBatchTrialsEnabled => ApiCommandRequestResponse::new(ApiCommandRequestResult::Pending)
            .with_data(&json!({"status_text": "not acquiring", "animal_id": "m-001", "values": [1, 2.5, "x", null, true]})),
        // The reference's delegate sees unknown numbers as USER_DEFINED.
        C::UserDefined | C::Unknown(_) => {
            ApiCommandRequestResponse::success().with_data(&json!({"echo": "m-001"}))
        }
        _ => ApiCommandRequestResponse::success(),
    }
}

fn recorder() -> (
    Mutex<mpsc::Sender<v0_12::ApiCommandRequest>>,
    mpsc::Receiver<v0_12::ApiCommandRequest>,
) {
    let (tx, rx) = mpsc::channel();
    (Mutex::new(tx), rx)
}

/// Same delegate answers, same reply bytes (spaced, as `json.dumps` writes
/// them), and every reply of ours read back by the reference's own types;
/// then the documented differences, exactly.
#[test]
fn our_replies_are_the_references_bytes_for_the_same_answers() {
    let reference = Reference::start("3600", Some(&answers()), &[]);
    let service = our_service();
    let (tx, seen) = recorder();
    service.set_delegate(
        move |request: v0_12::ApiCommandRequest, _: &RequestContext| {
            let _ = tx.lock().unwrap().send(request.clone());
            our_answer(&request)
        },
    );
    let mut theirs = PyReq::connect(reference.cmd_port);
    let mut ours = PyReq::connect(service.command_port());
    let mut reader = ReplyReader::start();

    let requests: [(&str, Option<&str>); 14] = [
        (r#"{"command": 400, "nonce": 7}"#, Some("ApiSystemStatus")),
        (
            r#"{"command": 300, "nonce": 8}"#,
            Some("ApiSystemConfiguration"),
        ),
        (
            r#"{"command": 500, "nonce": 9}"#,
            Some("List[ApiAnimalStatus]"),
        ),
        (
            r#"{"command": 120, "nonce": 10, "data": {"mode": 100}}"#,
            None,
        ),
        (
            r#"{"command": 130, "nonce": 11, "data": {"mode": 200}}"#,
            None,
        ),
        (r#"{"command": 200, "nonce": 12}"#, None),
        (r#"{"command": 210, "nonce": 13}"#, None),
        (r#"{"command": 50, "nonce": 14}"#, None),
        (r#"{"command": 1000, "nonce": 15}"#, None),
        (
            r#"{"command": 1070, "nonce": 16, "data": {"enabled": true}}"#,
            None,
        ),
        (
            r#"{"command": 1090, "nonce": -5, "data": {"enabled": false}}"#,
            None,
        ),
        (
            r#"{"command": 1030, "nonce": 17, "data": {"enabled": true}}"#,
            None,
        ),
        (
            r#"{"command": 99999, "nonce": 18, "customCommand": 3, "data": {"trialNumber": 4, "animalId": "m1"}}"#,
            None,
        ),
        (r#"{"command": 400}"#, Some("ApiSystemStatus")),
    ];
    for (request, data_type) in requests {
        let reference_reply = theirs.ask(request.as_bytes());
        let our_reply = ours.ask(request.as_bytes());
        assert_eq!(our_reply, reference_reply, "reply to {request}");
        assert!(our_reply.starts_with(r#"{"nonce": "#), "{our_reply}");
        reader.expect_same(&our_reply, data_type);

        // Both delegates saw the same request.
        let theirs_seen = reference.seen_request();
        let ours_seen = seen.recv_timeout(WAIT).expect("our delegate saw it");
        assert_same_request(&ours_seen, &theirs_seen, request);
    }
    let status = reader.expect_same(
        &ours.ask(br#"{"command": 400, "nonce": 1}"#),
        Some("ApiSystemStatus"),
    );
    assert_eq!(status["data_type"], "ApiSystemStatus");
    seen.recv_timeout(WAIT).unwrap();

    // NONE: answered by both services themselves (no delegate), ours with
    // the nonce echoed.
    let request = br#"{"command": 0, "nonce": 21}"#;
    let reference_reply = theirs.ask(request);
    assert_eq!(
        reference_reply,
        r#"{"nonce": 0, "command": 0, "result": 0, "data": null, "errorKind": 0, "errorCode": 0, "errorMessage": null}"#
    );
    let our_reply = ours.ask(request);
    assert_eq!(
        our_reply,
        reference_reply.replace(r#""nonce": 0"#, r#""nonce": 21"#)
    );
    reader.expect_same(&our_reply, None);

    // Unknown commands: echoed by us, 99999 by the reference.
    let request = br#"{"command": 12345, "nonce": 22}"#;
    let reference_reply = theirs.ask(request);
    let our_reply = ours.ask(request);
    assert_eq!(
        our_reply,
        r#"{"nonce": 22, "command": 12345, "result": 100, "data": {"echo": "m-001"}, "errorKind": 0, "errorCode": 0, "errorMessage": null}"#
    );
    assert_eq!(reference_reply, our_reply.replace("12345", "99999"));
    reader.expect_same(&our_reply, None);
    assert_eq!(reference.seen_request()["command"], 99999);
    assert_eq!(
        seen.recv_timeout(WAIT).unwrap().command,
        v0_12::ApiCommand::Unknown(12345)
    );

    // Malformed requests: both answer and go on serving; ours says why and
    // echoes a nonce it could read.
    for (request, nonce) in [
        (&b"not json"[..], 0),
        (&br#"{"nonce": 23}"#[..], 23),
        (&b"[400, 1]"[..], 0),
        (&[0xff, 0xfe, b'{', b'}'][..], 0),
    ] {
        let reference_reply = theirs.ask(request);
        assert_eq!(
            reference_reply,
            r#"{"nonce": 0, "command": 0, "result": 0, "data": null, "errorKind": 0, "errorCode": 0, "errorMessage": null}"#,
            "{}",
            text(request)
        );
        let our_reply = ours.ask(request);
        let parsed: Value = serde_json::from_str(&our_reply).unwrap();
        assert_eq!(parsed["nonce"], nonce, "{our_reply}");
        assert_eq!(parsed["result"], 0, "{our_reply}");
        assert_eq!(parsed["errorKind"], 1, "{our_reply}");
        assert!(
            parsed["errorMessage"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{our_reply}"
        );
        let reading = reader.expect_same(&our_reply, None);
        assert_eq!(reading["result"], "UNRECOGNIZED");
    }
    // Both still serve.
    let request = br#"{"command": 120, "nonce": 24, "data": {"mode": 100}}"#;
    assert_eq!(ours.ask(request), theirs.ask(request));
    reference.stop();
    service.stop();
}

#[test]
fn without_a_delegate_both_answer_unavailable_identically() {
    let reference = Reference::start("3600", None, &["--no-delegate"]);
    let service = our_service();
    let mut theirs = PyReq::connect(reference.cmd_port);
    let mut ours = PyReq::connect(service.command_port());
    let request = br#"{"command": 400, "nonce": 3}"#;
    let reply = theirs.ask(request);
    assert_eq!(
        reply,
        r#"{"nonce": 3, "command": 400, "result": 9999, "data": null, "errorKind": 0, "errorCode": 0, "errorMessage": null}"#
    );
    assert_eq!(ours.ask(request), reply);
    reference.stop();
    service.stop();
}

/// Our typed publish paths against the reference's own: `publish_event` of
/// our `build_event` against `send_event(ApiEvent)` of its `build_event`
/// (renumbered kinds, an emergency, repeats), `publish_command_result` and
/// `CompletionHandle::complete` against `send_command_result`.
#[test]
fn published_bytes_match_the_reference() {
    let topics = [EMERGENCY, EVENT, COMMAND_RESULT];
    let mut reference = Reference::start("3600", None, &[]);
    let service = our_service();
    let (accepted_tx, accepted) = mpsc::channel();
    let accepted_tx = Mutex::new(accepted_tx);
    service.set_delegate(
        move |_: v0_12::ApiCommandRequest, context: &RequestContext| {
            accepted_tx
                .lock()
                .unwrap()
                .send(context.accept_pending())
                .unwrap();
            ApiCommandRequestResponse::pending_with_notification()
        },
    );
    let theirs = reference.joined(&topics);
    let ours = joined(&service, &topics);

    let events = [
        (301, json!({"mode": 1100})),
        (1222, json!({"cycles": 250})),
        (1223, json!({"drift": {"x": 0.25, "y": -1.5, "z": 3.125}})),
        (
            1301,
            json!({"session_id": "6f1c1f9e-8f0e-4a53-9d8c-2b3c4d5e6f70", "trial_id": 143, "reason": "é tunnel entry"}),
        ),
        (
            101,
            json!({"reason": "front door opened", "reason_code": 301, "active_alarms": [501]}),
        ),
        (
            102,
            json!({"reason": "door closed", "reason_code": 101, "resumed_alarms": [501]}),
        ),
        (601, status_fields()),
        (6501, status_fields()["alarms"][0].clone()),
        (5801, Value::Null),
        (v0_12::ApiEventKind::AlgorithmPause.value(), Value::Null),
    ];
    let mut expected_count = 0;
    for (i, (number, context)) in events.into_iter().enumerate() {
        let spec = json!({
            "kind": number, "context": context, "repeat": i % 3,
            "when": 1_789_000_000.125 + i as f64, "index": 123_456_789_000_i64 + i as i64,
        });
        reference.send(json!({ "send_event": spec }));
        let event = event_from_json(v0_12::ApiEventKind::from_value(number), &spec);
        expected_count += if event.is_emergency() { 2 } else { 1 };
        service.publish_event(event).unwrap();
    }
    // A command result, published directly and through a completion handle.
    let data = json!({"frames_written": 10, "note": "not acquiring", "ratio": 0.1});
    reference.send(json!({"send_command_result": {
        "result": 400, "data": data, "error_code": 3, "error_message": "disk full",
        "command": 130, "nonce": 41}}));
    service
        .publish_command_result(
            ApiCommandRequestResponse::failed(3, "disk full")
                .with_data(&data)
                .for_request(v0_12::ApiCommand::SetTrainingMode, 41),
        )
        .unwrap();
    let reply = ReqClient::connect(service.command_port())
        .request_json(&json!({"command": 130, "nonce": 77, "data": {"mode": 200}}));
    assert_eq!(reply["result"], 201, "{reply}");
    let handle = accepted
        .recv_timeout(WAIT)
        .expect("the delegate accepted it");
    let done = json!({"mode": 200, "started_at": 1789000003.75});
    reference.send(json!({"send_command_result": {
        "result": 100, "data": done, "command": 130, "nonce": 77}}));
    handle
        .complete(ApiCommandRequestResponse::success().with_data(&done))
        .expect("the pending command completes");
    expected_count += 2;

    let ours_got = expect_identical(&theirs, &ours, expected_count, WAIT);
    let emergencies = ours_got
        .iter()
        .filter(|m| m.topic() == Some(EMERGENCY))
        .count();
    assert_eq!(emergencies, 2);
    theirs.expect_fence_next(|topic, body| {
        reference.send(json!({"send_dict": {"topic": topic, "message": body}}))
    });
    ours.expect_fence_next(|topic, body| {
        service
            .publish_json(ApiTopic::from_value(topic), body)
            .unwrap()
    });
    reference.stop();
    service.stop();
}

#[test]
fn heartbeats_match_except_timestamp_and_version() {
    let reference = Reference::start("0.2", None, &["--identifier", "interop-hb"]);
    let mut options = v0_12_options();
    options.identifier = "interop-hb".into();
    options.heartbeat_interval = Duration::from_millis(200);
    let service = ZeroMqRpcService::new(options);
    service.start().unwrap();

    let (theirs_beat, ours_beat) = first_heartbeats(reference.pub_port, &service, WAIT);
    assert_eq!(
        heartbeat_template(&ours_beat),
        r#"{"identifier": "interop-hb", "version": "V", "timestamp": T}"#
    );
    assert_eq!(theirs_beat.json()["version"], "0.12.0");
    assert_eq!(
        ours_beat.json()["version"],
        format!("0.12.0+rust.{}", env!("CARGO_PKG_VERSION"))
    );
    reference.stop();
    service.stop();
}

// --- Our client against the live 0.12 reference ---------------------------------------------------

/// The operator side needs the `client` feature.
#[cfg(feature = "client")]
mod client_side {
    use super::*;
    use auto_trainer_api::{
        BlockingDeviceClient, ClientOptions, CommandCall, DeviceMessage, EventKind,
    };

    fn next_event(client: &mut BlockingDeviceClient) -> DeviceMessage {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = client.next_message(left).expect("an event within the wait");
            if !matches!(
                message,
                DeviceMessage::Heartbeat(_) | DeviceMessage::CommandResult(_)
            ) {
                return message;
            }
        }
    }

    /// Our `DeviceClient`, told nothing about the generation, against the 0.12
    /// reference: it learns 0.12 from a heartbeat, then pings, reads status
    /// and configuration as the 0.12 types, sets the application mode, awaits
    /// a pending command's result sent by the Python app, and names the
    /// renumbered event kinds with their 0.12 names.
    #[test]
    fn our_client_drives_a_live_0_12_reference() {
        let answers = json!({
            "120": {"result": 100, "data": {"mode": 100}},
            "130": {"result": 201},
            "300": {"typed": {"type": "ApiSystemConfiguration", "fields": configuration_fields()}},
            "400": {"typed": {"type": "ApiSystemStatus", "fields": status_fields()}},
        });
        let mut reference = Reference::start("0.2", Some(&answers), &[]);
        let options =
            ClientOptions::new("127.0.0.1").with_ports(reference.pub_port, reference.cmd_port);
        assert_eq!(options.protocol, None);
        let mut client = BlockingDeviceClient::connect(options).expect("connect");

        // Detection from the heartbeat's version.
        let deadline = Instant::now() + WAIT;
        while client.generation().is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no generation detected");
            client.next_message(left);
        }
        assert_eq!(client.generation(), Some(Generation::V0_12));

        // Ping: the 0.12 reference answers NONE itself, with nonce 0.
        let ping = client
            .send_command(v0_12::ApiCommand::None, None)
            .expect("ping");
        assert_eq!(ping.result, ApiCommandRequestResult::Unrecognized);
        assert_eq!(ping.nonce, 0);
        assert_eq!(ping.command, v0_12::ApiCommand::None);

        let status = client
            .send_command(v0_12::ApiCommand::GetStatus, None)
            .expect("status");
        assert_eq!(status.result, ApiCommandRequestResult::Success);
        assert_eq!(status.command, v0_12::ApiCommand::GetStatus);
        assert_eq!(status.command.name(), Some("GET_STATUS"));
        assert_eq!(reference.seen_request()["nonce"], status.nonce);
        let read: v0_12::ApiSystemStatus = decode_payload(status.data.as_ref().unwrap()).unwrap();
        let expected: v0_12::ApiSystemStatus = decode_payload(&status_fields()).unwrap();
        assert_eq!(read, expected);
        assert_eq!(read.application_mode, v0_12::ApiApplicationMode::InTraining);
        assert_eq!(read.alarms[0].alarm_id.value(), 501);

        let configuration = client
            .send_command(v0_12::ApiCommand::GetConfiguration, None)
            .expect("configuration");
        reference.seen_request();
        let read: v0_12::ApiSystemConfiguration =
            decode_payload(configuration.data.as_ref().unwrap()).unwrap();
        assert_eq!(read, decode_payload(&configuration_fields()).unwrap());

        let mode = client
            .send(
                CommandCall::new(v0_12::ApiCommand::SetApplicationMode).data(json!({"mode": 100})),
            )
            .expect("set application mode");
        assert_eq!(mode.result, ApiCommandRequestResult::Success);
        assert_eq!(mode.data, Some(json!({"mode": 100})));
        let seen = reference.seen_request();
        assert_eq!(
            (seen["command"].clone(), seen["data"].clone()),
            (json!(120), json!({"mode": 100}))
        );

        // A pending command; the Python app publishes its result.
        let pending = client
            .send(CommandCall::new(v0_12::ApiCommand::SetTrainingMode).data(json!({"mode": 200})))
            .expect("set training mode");
        assert_eq!(
            pending.result,
            ApiCommandRequestResult::PendingWithNotification
        );
        let seen = reference.seen_request();
        assert_eq!(seen["nonce"], pending.nonce);
        assert_eq!(client.awaited_commands().len(), 1);
        reference.send(json!({"send_command_result": {
        "result": 100, "data": {"mode": 200}, "command": 130, "nonce": pending.nonce}}));
        let result = client
            .wait_for_result(pending.nonce, WAIT)
            .expect("the result");
        assert_eq!(result.result, ApiCommandRequestResult::Success);
        assert_eq!(result.command, v0_12::ApiCommand::SetTrainingMode);
        assert_eq!(result.nonce, pending.nonce);
        assert_eq!(result.data, Some(json!({"mode": 200})));
        assert!(client.awaited_commands().is_empty());

        // Events of renumbered kinds, decoded by their 0.12 names and types.
        let session = "6f1c1f9e-8f0e-4a53-9d8c-2b3c4d5e6f70";
        for spec in [
            json!({"kind": 301, "context": {"mode": 100}}),
            json!({"kind": 1222, "context": {"cycles": 250}}),
            json!({"kind": 1223, "context": {"drift": {"x": 0.25, "y": -1.5, "z": 3.125}}}),
            json!({"kind": 1301, "context": {"session_id": session, "trial_id": 143, "reason": "tunnel entry"}, "repeat": 2}),
            json!({"kind": 101, "context": {"reason": "front door opened", "reason_code": 301, "active_alarms": [501]}}),
        ] {
            reference.send(json!({ "send_event": spec }));
        }
        let event = |message: DeviceMessage| match message {
            DeviceMessage::Event(event) => event,
            other => panic!("not an event: {other:?}"),
        };
        let mode = event(next_event(&mut client));
        assert_eq!(
            mode.kind,
            EventKind::V0_12(v0_12::ApiEventKind::ApplicationModeChanged)
        );
        assert_eq!(mode.kind.name(), Some("applicationModeChanged"));
        assert_eq!(
            mode.context_of(kind::ApplicationModeChanged)
                .unwrap()
                .unwrap()
                .mode,
            v0_12::ApiApplicationMode::Running
        );
        let home = event(next_event(&mut client));
        assert_eq!(home.kind.to_string(), "pelletHomeReset");
        assert_eq!(
            home.context_of(kind::PelletHomeReset)
                .unwrap()
                .unwrap()
                .cycles,
            250
        );
        let drift = event(next_event(&mut client));
        assert_eq!(drift.kind.to_string(), "pelletDriftReset");
        let read = drift.context_of(kind::PelletDriftReset).unwrap().unwrap();
        assert_eq!(
            (read.drift.x, read.drift.y, read.drift.z),
            (0.25, -1.5, 3.125)
        );
        let trial = event(next_event(&mut client));
        assert_eq!(
            trial.kind,
            EventKind::V0_12(v0_12::ApiEventKind::TrialStarted)
        );
        assert_eq!(trial.repeat, 2);
        let read = trial.context_of(kind::TrialStarted).unwrap().unwrap();
        assert_eq!((read.session_id.as_str(), read.trial_id), (session, 143));
        assert!(trial.context_of(kind::ApplicationModeChanged).is_none());
        // The emergency, on EMERGENCY first.
        let DeviceMessage::Emergency(stop) = next_event(&mut client) else {
            panic!("the EMERGENCY copy first")
        };
        assert_eq!(stop.kind.to_string(), "emergencyStop");
        let read = stop.context_of(kind::EmergencyStop).unwrap().unwrap();
        assert_eq!(
            read.reason_code,
            v0_12::ApiEmergencyStopReason::from_value(301)
        );
        assert_eq!(read.active_alarms, [v0_12::ApiAlarmKind::from_value(501)]);
        assert_eq!(event(next_event(&mut client)), stop);

        client.close();
        reference.stop();
    }
}
