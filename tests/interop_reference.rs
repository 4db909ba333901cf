//! Our service against the REAL reference (`auto-trainer-api` 0.9.11, run by
//! `tests/python/reference_service.py` in the venv of
//! `scripts/python-test-env.sh`), through independent pyzmq peers
//! (`tests/python/zmq_peer.py`) and raw `zmq` sockets.
//!
//! Where the reference does not damage a value, the bytes must be identical;
//! where it does, they must differ exactly as the numbered defects of
//! `proto-schema/README.md` ("Deliberate differences from the Python
//! reference") say.

mod common;

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use auto_trainer_api::{
    ApiAppStatus, ApiCommand, ApiCommandRequest, ApiCommandRequestResponse,
    ApiCommandRequestResult, ApiEvent, ApiEventKind, ApiTopic, ApiTrainingMode,
    ConfigurationResponse, RequestContext, RpcOptions, RpcService, StatusResponse,
    ZeroMqRpcService,
};
use common::python::{
    assert_same_request, spawn_zmq_sub, start_reference_service, PyProcess, ReferenceService,
};
use common::zmq_client::{
    expect_identical, first_heartbeats, heartbeat_template, joined, ReqClient, SubCollector,
    PROBE_TOPIC,
};
use serde_json::{json, Value};

const STARTUP: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(10);
const HEARTBEAT: u32 = ApiTopic::Heartbeat.value();
const EMERGENCY: u32 = ApiTopic::Emergency.value();
const EVENT: u32 = ApiTopic::Event.value();
const PROPERTY_CHANGE: u32 = ApiTopic::PropertyChange.value();
const COMMAND_RESULT: u32 = ApiTopic::CommandResult.value();

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The reference service in its own process.
struct Reference {
    process: PyProcess,
    pub_port: u16,
    cmd_port: u16,
}

impl Reference {
    /// Starts it with `answers` (see reference_service.py) and extra arguments.
    fn start(answers: Option<&Value>, extra: &[&str]) -> Self {
        let ReferenceService {
            process,
            pub_port,
            cmd_port,
        } = start_reference_service("3600", answers, extra, STARTUP);
        Self {
            process,
            pub_port,
            cmd_port,
        }
    }

    fn send_dict(&mut self, topic: u32, message: &Value) {
        self.process
            .send_line(&json!({"send_dict": {"topic": topic, "message": message}}));
    }

    /// Publishes the reference's own dataclass `name` built from `fields`
    /// (see reference_service.py's `send_dataclass`).
    fn send_dataclass(&mut self, topic: u32, name: &str, fields: &Value) {
        self.process.send_line(
            &json!({"send_dataclass": {"topic": topic, "type": name, "fields": fields}}),
        );
    }

    /// Publishes the EVENT dictionary of the reference's README.
    fn send_event(&mut self, event: &Value) {
        self.process.send_line(&json!({ "send_event": event }));
    }

    /// The next request its delegate logged.
    fn seen_request(&self) -> Value {
        self.process
            .wait_for(WAIT, |line| line.get("request").is_some())
            .expect("the reference's delegate logged no request")["request"]
            .clone()
    }

    /// A subscriber to `topics` that has joined this publisher.
    fn joined(&mut self, topics: &[u32]) -> SubCollector {
        let sub = SubCollector::connect(self.pub_port, topics);
        sub.join(|n| self.send_dict(PROBE_TOPIC, &json!({ "probe": n })));
        sub
    }
}

/// `zmq_peer.py req`: a pyzmq REQ client in its own process.
struct PyReq {
    process: PyProcess,
}

impl PyReq {
    fn connect(port: u16, timeout_seconds: f64) -> Self {
        let endpoint = format!("tcp://127.0.0.1:{port}");
        let timeout = timeout_seconds.to_string();
        Self {
            process: PyProcess::spawn(
                "zmq_peer",
                &["req", "--endpoint", &endpoint, "--timeout", &timeout],
            ),
        }
    }

    /// Sends one frame; the reply's bytes, or `None` when it timed out.
    fn send(&mut self, frame: &[u8]) -> Option<Vec<u8>> {
        self.process.send_line(&json!({ "hex": hex(frame) }));
        let line = self
            .process
            .next_line(STARTUP)
            .expect("zmq_peer req printed nothing");
        if line.get("timeout").is_some() {
            return None;
        }
        let reply = line["reply_hex"]
            .as_str()
            .unwrap_or_else(|| panic!("unexpected output: {line}"));
        assert!(line.get("frames").is_none(), "a multipart reply: {line}");
        Some(unhex(reply))
    }

    /// Sends `text`; the reply as text (panics on timeout).
    fn ask(&mut self, text: &str) -> String {
        let reply = self
            .send(text.as_bytes())
            .unwrap_or_else(|| panic!("no reply to {text}"));
        String::from_utf8(reply).expect("a UTF-8 reply")
    }
}

fn our_options() -> RpcOptions {
    let mut options = RpcOptions::loopback();
    options.heartbeat_interval = Duration::from_secs(3600);
    options
}

fn our_service() -> ZeroMqRpcService {
    let service = ZeroMqRpcService::new(our_options());
    service.start().expect("start our service");
    service
}

/// Records what our delegate saw.
fn recorder() -> (
    Mutex<mpsc::Sender<ApiCommandRequest>>,
    Receiver<ApiCommandRequest>,
) {
    let (tx, rx) = mpsc::channel();
    (Mutex::new(tx), rx)
}

/// The answers of both delegates in the comparisons: the reference's from
/// this file, ours from [`rust_answer`].
fn answers() -> Value {
    json!({
        "0": {"result": 0},
        "100": {"result": 201},
        "110": {"result": 400, "error_code": 3, "error_message": "busy"},
        "200": {"raise": "boom"},
        "210": {"result": 200, "data": [1, 2.5, "x", null, true, {"inner_key": "v"}]},
        "300": {"result": 100, "unserializable": true},
        "400": {"result": 100, "data": {"app_status": 0, "training_mode": 100, "animal_id": "m1"}},
        "99999": {"result": 100}
    })
}

fn rust_answer(request: &ApiCommandRequest) -> ApiCommandRequestResponse {
    match request.command {
        ApiCommand::None => ApiCommandRequestResponse::unrecognized(),
        ApiCommand::StartAcquisition => ApiCommandRequestResponse::pending_with_notification(),
        ApiCommand::StopAcquisition => ApiCommandRequestResponse::failed(3, "busy"),
        ApiCommand::EmergencyStop => panic!("boom"),
        ApiCommand::EmergencyResume => {
            ApiCommandRequestResponse::new(ApiCommandRequestResult::Pending)
                .with_data(&json!([1, 2.5, "x", null, true, {"inner_key": "v"}]))
        }
        ApiCommand::GetConfiguration => {
            let mut unserializable = BTreeMap::new();
            unserializable.insert((1, 2), "value");
            ApiCommandRequestResponse::success().with_data(&unserializable)
        }
        ApiCommand::GetStatus => ApiCommandRequestResponse::success()
            .with_data(&json!({"app_status": 0, "training_mode": 100, "animal_id": "m1"})),
        _ => ApiCommandRequestResponse::success(),
    }
}

#[test]
fn pyzmq_req_and_sub_talk_to_our_service() {
    let service = our_service();
    service.set_delegate(|request: ApiCommandRequest, _: &RequestContext| rust_answer(&request));

    let mut req = PyReq::connect(service.command_port(), 5.0);
    assert_eq!(
        req.ask(r#"{"command": 400, "nonce": 7}"#),
        r#"{"nonce":7,"command":400,"result":100,"data":{"appStatus":0,"trainingMode":100,"animalId":"m1"},"errorKind":0,"errorCode":0,"errorMessage":null}"#
    );
    let malformed: Value = serde_json::from_str(&req.ask("not json")).unwrap();
    assert_eq!(malformed["result"], 0, "{malformed}");
    assert_eq!(malformed["errorKind"], 1, "{malformed}");
    assert_eq!(
        req.ask(r#"{"command": 110, "nonce": 8}"#),
        r#"{"nonce":8,"command":110,"result":400,"data":null,"errorKind":2,"errorCode":3,"errorMessage":"busy"}"#
    );

    let endpoint = format!("tcp://127.0.0.1:{}", service.subscriber_port());
    let sub = spawn_zmq_sub(&endpoint, 100_000, 60, &[EMERGENCY, EVENT]);
    sub.expect_ready(STARTUP);
    // Join: probe on EVENT until one arrives, then read up to a fence.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut n = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "the pyzmq subscriber never joined"
        );
        service
            .publish_json(ApiTopic::Event, json!({ "probe": n }))
            .unwrap();
        n += 1;
        if sub.next_line(Duration::from_millis(50)).is_some() {
            break;
        }
    }
    service
        .publish_json(ApiTopic::Event, json!({"probe": "fence"}))
        .unwrap();
    sub.wait_for(WAIT, |line| {
        line["body"].as_str() == Some(r#"{"probe": "fence"}"#)
    })
    .expect("the fence");

    service
        .publish_json(
            ApiTopic::Event,
            json!({"kind": 101, "when": 1700000000.5, "index": 1, "context": {"reason": "é"}}),
        )
        .unwrap();
    let body =
        r#"{"kind": 101, "when": 1700000000.5, "index": 1, "context": {"reason": "\u00e9"}}"#;
    for (topic, topic_hex) in [(2001, "d1070000"), (4001, "a10f0000")] {
        let line = sub.next_line(WAIT).expect("a message");
        assert_eq!(line["topic"], topic, "{line}");
        assert_eq!(line["topic_hex"], topic_hex, "{line}");
        assert_eq!(line["frames"], 2, "{line}");
        assert_eq!(line["body"], body, "{line}");
    }
    service.stop();
}

#[test]
fn identical_answers_give_identical_reply_bytes() {
    let mut reference = Reference::start(Some(&answers()), &[]);
    let service = our_service();
    let (tx, seen) = recorder();
    service.set_delegate(move |request: ApiCommandRequest, _: &RequestContext| {
        let _ = tx.lock().unwrap().send(request.clone());
        rust_answer(&request)
    });
    let mut theirs = PyReq::connect(reference.cmd_port, 5.0);
    let mut ours = PyReq::connect(service.command_port(), 5.0);

    let requests = [
        r#"{"command": 400, "nonce": 7}"#,
        r#"{"command": 110, "nonce": 8}"#,
        r#"{"command": 100, "nonce": 9}"#,
        r#"{"command": 200, "nonce": 10}"#,
        r#"{"command": 0, "nonce": 12}"#,
        r#"{"command": 210, "nonce": 13}"#,
        r#"{"command": 99999, "nonce": 14, "customCommand": 3, "data": {"trialNumber": 4, "animalId": "m1"}}"#,
        r#"{"command": 400}"#,
    ];
    for request in requests {
        let reference_reply = theirs.ask(request);
        let our_reply = ours.ask(request);
        assert_eq!(our_reply, reference_reply, "reply to {request}");

        // Both delegates saw the same request.
        let theirs_seen = reference.seen_request();
        let ours_seen = seen.recv_timeout(WAIT).expect("our delegate saw it");
        assert_same_request(&ours_seen, &theirs_seen, request);
    }
    reference.process.send_line(&json!({"stop": true}));
    service.stop();
}

#[test]
fn without_a_delegate_both_answer_unavailable_identically() {
    let reference = Reference::start(None, &["--no-delegate"]);
    let service = our_service();
    let mut theirs = PyReq::connect(reference.cmd_port, 5.0);
    let mut ours = PyReq::connect(service.command_port(), 5.0);
    let request = r#"{"command": 400, "nonce": 3}"#;
    let reply = theirs.ask(request);
    assert_eq!(
        reply,
        r#"{"nonce":3,"command":400,"result":9999,"data":null,"errorKind":0,"errorCode":0,"errorMessage":null}"#
    );
    assert_eq!(ours.ask(request), reply);
    service.stop();
}

#[test]
fn damaging_values_differ_exactly_as_the_defects_say() {
    let status = json!({
        "status_text": "not acquiring",
        "animal_id": "m-001",
        "display_name": "Mouse 42",
        "data_path": "/data/My Files"
    });
    let mut reference = Reference::start(
        Some(&json!({
            "300": {"result": 100, "unserializable": true},
            "400": {"result": 100, "data": status}
        })),
        &[],
    );
    let service = our_service();
    let (tx, seen) = recorder();
    service.set_delegate(move |request: ApiCommandRequest, _: &RequestContext| {
        let answer = match request.command {
            ApiCommand::GetStatus => ApiCommandRequestResponse::success().with_data(&status),
            ApiCommand::GetConfiguration => rust_answer(&request),
            _ => ApiCommandRequestResponse::success(),
        };
        let _ = tx.lock().unwrap().send(request);
        answer
    });
    let mut theirs = PyReq::connect(reference.cmd_port, 5.0);
    let mut ours = PyReq::connect(service.command_port(), 5.0);

    // Defect 4, replies: the reference camelizes the whole reply text.
    let request = r#"{"command": 400, "nonce": -5}"#;
    assert_eq!(
        ours.ask(request),
        r#"{"nonce":-5,"command":400,"result":100,"data":{"statusText":"not acquiring","animalId":"m-001","displayName":"Mouse 42","dataPath":"/data/My Files"},"errorKind":0,"errorCode":0,"errorMessage":null}"#
    );
    assert_eq!(
        theirs.ask(request),
        r#"{"nonce":5,"command":400,"result":100,"data":{"statusText":"notacquiring","animalId":"m001","displayName":"Mouse42","dataPath":"/data/MyFiles"},"errorKind":0,"errorCode":0,"errorMessage":null}"#
    );
    assert_eq!(reference.seen_request()["nonce"], -5);
    assert_eq!(seen.recv_timeout(WAIT).unwrap().nonce, -5);

    // Defect 4 hits the reference's own fallback message too.
    let request = r#"{"command": 300, "nonce": 11}"#;
    let our_reply = ours.ask(request);
    assert_eq!(
        our_reply,
        format!(
            r#"{{"nonce":11,"command":300,"result":100,"data":null,"errorKind":1,"errorCode":0,"errorMessage":"{}"}}"#,
            auto_trainer_api::DATA_SERIALIZATION_ERROR
        )
    );
    assert_eq!(
        theirs.ask(request),
        r#"{"nonce":11,"command":300,"result":100,"data":null,"errorKind":1,"errorCode":0,"errorMessage":"Anerroroccurredserializingthe'data'elementoftheresponse."}"#
    );
    reference.seen_request();
    seen.recv_timeout(WAIT).unwrap();

    // Defect 4, requests: the reference decamelizes the request text.
    let request = r#"{"command": 99999, "nonce": 6, "data": {"animalId": "Mouse 42", "dataPath": "/data/My Files"}}"#;
    assert_eq!(ours.ask(request), theirs.ask(request));
    assert_eq!(
        reference.seen_request()["data"],
        json!({"animal_id": "_mouse42", "data_path": "/data/_my_files"})
    );
    assert_eq!(
        seen.recv_timeout(WAIT).unwrap().data,
        Some(json!({"animal_id": "Mouse 42", "data_path": "/data/My Files"}))
    );

    // Defect 5: an unknown command is echoed (and delegated) as 99999.
    let request = r#"{"command": 12345, "nonce": 7}"#;
    let our_reply = ours.ask(request);
    let reference_reply = theirs.ask(request);
    assert_eq!(
        our_reply,
        r#"{"nonce":7,"command":12345,"result":100,"data":null,"errorKind":0,"errorCode":0,"errorMessage":null}"#
    );
    assert_eq!(reference_reply, our_reply.replace("12345", "99999"));
    assert_eq!(reference.seen_request()["command"], 99999);
    assert_eq!(
        seen.recv_timeout(WAIT).unwrap().command,
        ApiCommand::Unknown(12345)
    );
    reference.process.send_line(&json!({"stop": true}));
    service.stop();
}

/// What both publishers are asked to publish, in order: (topic, message).
fn published_messages() -> Vec<(u32, Value)> {
    vec![
        (
            EVENT,
            json!({"kind": 301, "when": 1700000000.5, "index": 12345, "context": {"animal_id": "m1", "reason": "é"}}),
        ),
        (
            EVENT,
            json!({"kind": 101, "when": 1700000001.25, "index": 2, "context": {"reason": "door open"}}),
        ),
        (
            EVENT,
            json!({"kind": 102, "when": 1700000002.0, "index": 3, "context": null}),
        ),
        (
            PROPERTY_CHANGE,
            json!({
                "property_name": "frame_rate",
                "new_value": 29.97,
                "values": [1e-05, 1e16, 3.0, -0.0, 0.1, 123456789.125],
                "big": 9007199254740993u64,
                "negative": -42,
                "flag": true,
                "nothing": null,
                "text": "tab\t\"q\" \u{7f} 😀 /data/My Files",
                "ID": "kept",
                "nested_list": [{"inner_key": [1, {"deep_key": "m-001"}]}]
            }),
        ),
        (EMERGENCY, json!({"kind": 101, "note": "sent directly"})),
        (PROPERTY_CHANGE, json!({"kind": 101})),
        (
            COMMAND_RESULT,
            json!({"result": 100, "data": {"frames_written": 10}, "error_code": 0, "error_message": null, "command": 100, "nonce": 41}),
        ),
    ]
}

#[test]
fn published_bytes_and_emergency_order_match_the_reference() {
    let topics = [EMERGENCY, EVENT, PROPERTY_CHANGE, COMMAND_RESULT];
    let mut reference = Reference::start(None, &[]);
    let service = our_service();
    let theirs = reference.joined(&topics);
    let ours = joined(&service, &topics);

    let mut expected_count = 0;
    for (topic, message) in published_messages() {
        if topic == COMMAND_RESULT {
            // The reference's README: an ApiCommandRequestResponse, as a dict.
            let fields =
                json!({"result": 100, "data": message["data"], "command": 100, "nonce": 41});
            reference.send_dataclass(topic, "ApiCommandRequestResponse", &fields);
        } else {
            reference.send_dict(topic, &message);
        }
        if topic == COMMAND_RESULT {
            service
                .publish_command_result(
                    ApiCommandRequestResponse::success()
                        .with_data(&message["data"])
                        .for_request(ApiCommand::StartAcquisition, 41),
                )
                .unwrap();
        } else {
            service
                .publish_json(ApiTopic::from_value(topic), message.clone())
                .unwrap();
        }
        let emergency = topic == EVENT && [101, 102].contains(&message["kind"].as_i64().unwrap());
        expected_count += if emergency { 2 } else { 1 };
    }
    // Text and raw bytes.
    reference.process.send_line(
        &json!({"send_string": {"topic": PROPERTY_CHANGE, "message": "héllo, \"world\""}}),
    );
    service
        .publish_str(ApiTopic::PropertyChange, "héllo, \"world\"")
        .unwrap();
    let raw = [0u8, 0xff, 0x10, b'x'];
    reference
        .process
        .send_line(&json!({"send": {"topic": EVENT, "hex": hex(&raw)}}));
    service
        .publish_bytes(ApiTopic::Event, raw.to_vec())
        .unwrap();
    expected_count += 2;

    let ours_got = expect_identical(&theirs, &ours, expected_count, WAIT);
    // The emergency duplication, in order: EMERGENCY first, then EVENT.
    let topics_seen: Vec<u32> = ours_got.iter().map(|m| m.topic().unwrap()).collect();
    assert_eq!(
        topics_seen,
        [
            EVENT,
            EMERGENCY,
            EVENT,
            EMERGENCY,
            EVENT,
            PROPERTY_CHANGE,
            EMERGENCY,
            PROPERTY_CHANGE,
            COMMAND_RESULT,
            PROPERTY_CHANGE,
            EVENT
        ]
    );
    // Nothing else was published by either before a fence.
    theirs.expect_fence_next(|topic, body| reference.send_dict(topic, &body));
    ours.expect_fence_next(|topic, body| {
        service
            .publish_json(ApiTopic::from_value(topic), body)
            .unwrap()
    });
    reference.process.send_line(&json!({"stop": true}));
    service.stop();
}

/// Each of our typed publish paths against the reference publishing the
/// same data its own way: `publish_event` against the README's EVENT
/// dictionary with an `ApiEventKind` member, `publish<T>` against
/// `asdict` of the reference's `StatusResponse` and
/// `ConfigurationResponse`, `publish_command_result` and
/// `CompletionHandle::complete` against `asdict` of its
/// `ApiCommandRequestResponse`. The expected bytes are the reference's.
#[test]
fn every_typed_publish_path_writes_the_reference_bytes() {
    let topics = [EMERGENCY, EVENT, PROPERTY_CHANGE, COMMAND_RESULT];
    let mut reference = Reference::start(None, &[]);
    let service = our_service();
    let (accepted_tx, accepted) = mpsc::channel();
    let accepted_tx = Mutex::new(accepted_tx);
    service.set_delegate(move |_: ApiCommandRequest, context: &RequestContext| {
        let handle = context.accept_pending();
        accepted_tx.lock().unwrap().send(handle).unwrap();
        ApiCommandRequestResponse::pending_with_notification()
    });
    let theirs = reference.joined(&topics);
    let ours = joined(&service, &topics);

    let mut expected_count = 0;
    // Events, an emergency among them (published twice by both).
    let contexts = [
        (
            301,
            json!({"animal_id": "m1", "reason": "é", "nested_key": [1.5, {"deep_key": null}]}),
        ),
        (101, json!({"reason": "door open"})),
        (202, Value::Null),
    ];
    for (index, (kind, context)) in contexts.into_iter().enumerate() {
        let event = ApiEvent {
            kind: ApiEventKind::from_value(kind),
            when: 1_700_000_000.25 + index as f64,
            index: 123_456_789_000 + index as i64,
            context: (!context.is_null()).then(|| context.clone()),
            repeat: 0,
        };
        reference.send_event(&json!({
            "kind": kind, "when": event.when, "index": event.index, "context": context
        }));
        service.publish_event(event).unwrap();
        expected_count += if kind == 101 { 2 } else { 1 };
    }
    // publish<T> with the status and configuration types.
    let status = StatusResponse {
        app_status: ApiAppStatus::ALL[1],
        training_mode: ApiTrainingMode::ALL[2],
        animal_id: "m-001 not acquiring".into(),
    };
    reference.send_dataclass(
        PROPERTY_CHANGE,
        "StatusResponse",
        &json!({
            "app_status": status.app_status.value(),
            "training_mode": status.training_mode.value(),
            "animal_id": status.animal_id,
        }),
    );
    service.publish(ApiTopic::PropertyChange, &status).unwrap();
    let fields = json!({
        "application_version": "1.2.3",
        "device_id": "rig-7",
        "configuration_location": "/data/My Files/config.json",
        "data_location": "/data/é",
        "animal_location": "C:\\animals",
        "log_location": "/var/log/at",
        "inference_model": "model_v2.onnx",
    });
    let text = |key: &str| fields[key].as_str().unwrap().to_owned();
    let configuration = ConfigurationResponse {
        application_version: text("application_version"),
        device_id: text("device_id"),
        configuration_location: text("configuration_location"),
        data_location: text("data_location"),
        animal_location: text("animal_location"),
        log_location: text("log_location"),
        inference_model: text("inference_model"),
    };
    reference.send_dataclass(PROPERTY_CHANGE, "ConfigurationResponse", &fields);
    service
        .publish(ApiTopic::PropertyChange, &configuration)
        .unwrap();
    expected_count += 2;
    // A command result, published directly and through a completion handle.
    let data = json!({"frames_written": 10, "note": "not acquiring", "ratio": 0.1});
    reference.send_dataclass(
        COMMAND_RESULT,
        "ApiCommandRequestResponse",
        &json!({"result": 400, "data": data, "error_code": 3, "error_message": "disk full",
                "command": 100, "nonce": 41}),
    );
    service
        .publish_command_result(
            ApiCommandRequestResponse::failed(3, "disk full")
                .with_data(&data)
                .for_request(ApiCommand::StartAcquisition, 41),
        )
        .unwrap();
    let reply = ReqClient::connect(service.command_port())
        .request_json(&json!({"command": 100, "nonce": 77}));
    assert_eq!(reply["result"], 201, "{reply}");
    let handle = accepted
        .recv_timeout(WAIT)
        .expect("the delegate accepted it");
    let done = json!({"acquisition_id": "a-1", "started_at": 1700000003.75});
    reference.send_dataclass(
        COMMAND_RESULT,
        "ApiCommandRequestResponse",
        &json!({"result": 100, "data": done, "command": 100, "nonce": 77}),
    );
    handle
        .complete(ApiCommandRequestResponse::success().with_data(&done))
        .expect("the pending command completes");
    expected_count += 2;

    expect_identical(&theirs, &ours, expected_count, WAIT);
    reference.process.send_line(&json!({"stop": true}));
    service.stop();
}

#[test]
fn heartbeat_bodies_match_except_timestamp_and_version() {
    let reference = Reference::start(
        None,
        &["--identifier", "interop-hb", "--heartbeat-interval", "0.2"],
    );
    let mut options = our_options();
    options.identifier = "interop-hb".into();
    options.heartbeat_interval = Duration::from_millis(200);
    let service = ZeroMqRpcService::new(options);
    service.start().unwrap();

    let (theirs_beat, ours_beat) = first_heartbeats(reference.pub_port, &service, WAIT);
    assert_eq!(
        heartbeat_template(&ours_beat),
        r#"{"identifier": "interop-hb", "version": "V", "timestamp": T}"#
    );
    assert_eq!(theirs_beat.json()["version"], "0.9.11");
    // The reference version we follow, with our crate's as build metadata.
    assert_eq!(
        ours_beat.json()["version"],
        format!("0.9.11+rust.{}", env!("CARGO_PKG_VERSION"))
    );
    service.stop();
}

/// The requests that kill the reference's command loop (defect 1).
fn loop_killers() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("non-JSON", b"hello there".to_vec()),
        ("invalid UTF-8", vec![0xff, 0xfe, b'{', b'}']),
        ("empty frame", Vec::new()),
        ("JSON array", b"[400, 1]".to_vec()),
        ("no command", br#"{"nonce": 17}"#.to_vec()),
        (
            "uppercase escape",
            br#"{"command": 99999, "nonce": 21, "data": {"name": "caf\u00E9"}}"#.to_vec(),
        ),
    ]
}

#[test]
fn ours_answers_each_loop_killing_request_and_keeps_serving() {
    let service = our_service();
    let (tx, seen) = recorder();
    service.set_delegate(move |request: ApiCommandRequest, _: &RequestContext| {
        let _ = tx.lock().unwrap().send(request);
        ApiCommandRequestResponse::success()
    });
    let mut ours = PyReq::connect(service.command_port(), 5.0);
    for (name, request) in loop_killers() {
        let reply = ours
            .send(&request)
            .unwrap_or_else(|| panic!("{name}: no reply"));
        let reply: Value = serde_json::from_slice(&reply).unwrap();
        if name == "uppercase escape" {
            // Valid JSON: served normally, decoded.
            assert_eq!(reply["result"], 100, "{name}: {reply}");
            assert_eq!(reply["nonce"], 21, "{name}: {reply}");
            let request = seen.recv_timeout(WAIT).unwrap();
            assert_eq!(request.data, Some(json!({"name": "café"})));
        } else {
            assert_eq!(reply["result"], 0, "{name}: {reply}");
            assert_eq!(reply["errorKind"], 1, "{name}: {reply}");
            assert!(reply["errorMessage"].is_string(), "{name}: {reply}");
        }
        let next: Value =
            serde_json::from_str(&ours.ask(r#"{"command": 0, "nonce": 99}"#)).unwrap();
        assert_eq!(next["result"], 100, "after {name}: {next}");
        assert_eq!(seen.recv_timeout(WAIT).unwrap().nonce, 99);
    }
    service.stop();
}

#[test]
fn the_reference_never_answers_a_loop_killing_request_and_hangs_later_clients() {
    // The reference's loop dies at the first such request: one process each.
    let cases = loop_killers();
    std::thread::scope(|scope| {
        for (i, (name, request)) in cases.iter().enumerate() {
            scope.spawn(move || {
                let heartbeats = ["--heartbeat-interval", "0.1"];
                let reference = Reference::start(None, if i == 0 { &heartbeats } else { &[] });
                let mut theirs = PyReq::connect(reference.cmd_port, 1.5);
                assert!(
                    theirs.send(request).is_none(),
                    "{name}: the reference answered"
                );
                // Every later request hangs too (a fresh socket each time).
                assert!(
                    theirs.send(br#"{"command": 0, "nonce": 1}"#).is_none(),
                    "{name}: the reference still serves"
                );
                assert!(
                    ReqClient::with_timeout(reference.cmd_port, Duration::from_millis(500))
                        .try_request(br#"{"command": 0, "nonce": 2}"#)
                        .is_none(),
                    "{name}: the reference serves a new client"
                );
                if i == 0 {
                    // Defect 3: its heartbeats go on after the loop died.
                    let sub = SubCollector::connect(reference.pub_port, &[HEARTBEAT]);
                    for _ in 0..3 {
                        sub.recv_topic(HEARTBEAT, WAIT)
                            .expect("the dead reference still sends heartbeats");
                    }
                }
            });
        }
    });
}

#[test]
fn ours_answers_at_once_while_the_reference_polls_every_50_ms() {
    const ROUND_TRIPS: u32 = 20;
    let reference = Reference::start(None, &[]);
    let service = our_service();
    service.set_delegate(|_: ApiCommandRequest, _: &RequestContext| {
        ApiCommandRequestResponse::success()
    });

    let time = |port: u16| {
        let mut req = ReqClient::connect(port);
        req.request(br#"{"command": 0}"#); // connect first
        let started = Instant::now();
        for nonce in 0..ROUND_TRIPS {
            let reply = req.request_json(&json!({"command": 0, "nonce": nonce}));
            assert_eq!(reply["result"], 100, "{reply}");
        }
        started.elapsed() / ROUND_TRIPS
    };
    let theirs = time(reference.cmd_port);
    let ours = time(service.command_port());
    eprintln!("mean round trip: reference {theirs:?}, ours {ours:?}");
    assert!(
        theirs > Duration::from_millis(30),
        "the reference answered in {theirs:?}"
    );
    assert!(ours * 4 < theirs, "ours {ours:?} vs reference {theirs:?}");
    service.stop();
}
