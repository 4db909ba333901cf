//! The JSON Schemas of the wire protocol (`proto-schema/`): the committed
//! files are what the Rust types generate, they are valid draft 2020-12
//! schemas, and every message on the wire validates against them, both ours
//! and the Python reference's, captured live in the same session. Messages
//! that break the protocol are rejected.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use auto_trainer_api::*;
use common::python::{repo_dir, start_reference_service, ReferenceService};
use common::reference_v0_12::{
    animals_fields, configuration_fields, reference_built_events, status_fields, Reference,
};
use common::zmq_client::{joined, parse_json, Published, ReqClient, SubCollector};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(15);

fn schema_dir() -> PathBuf {
    repo_dir().join("proto-schema")
}

/// The committed schemas of one generation, compiled, by file name.
struct Schemas {
    generation: Generation,
    validators: BTreeMap<String, jsonschema::Validator>,
}

impl Schemas {
    fn load(generation: Generation) -> Self {
        let mut validators = BTreeMap::new();
        for schema in wire_schemas()
            .into_iter()
            .filter(|s| s.generation == generation)
        {
            let path = schema_dir().join(&schema.file_name);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "cannot read {}: {e}; run scripts/generate-schemas.sh",
                    path.display()
                )
            });
            let committed: Value = serde_json::from_str(&text).expect("a schema file is JSON");
            let validator = jsonschema::draft202012::new(&committed)
                .unwrap_or_else(|e| panic!("{} does not compile: {e}", schema.file_name));
            let name = schema.file_name.rsplit('/').next().expect("a file name");
            validators.insert(name.to_owned(), validator);
        }
        Self {
            generation,
            validators,
        }
    }

    fn validator(&self, file: &str) -> &jsonschema::Validator {
        self.validators
            .get(file)
            .unwrap_or_else(|| panic!("no schema {file}"))
    }

    fn accepts(&self, file: &str, message: &Value) -> bool {
        self.validator(file).is_valid(message)
    }

    /// Panics, naming every violation, unless `message` is valid.
    fn check(&self, file: &str, message: &Value, origin: &str) {
        let errors: Vec<String> = self
            .validator(file)
            .iter_errors(message)
            .map(|e| format!("  at {}: {e}", e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{origin}: message does not match {file}:\n{message}\n{}",
            errors.join("\n")
        );
    }

    /// Checks a published message against the schema of its topic; returns the topic.
    fn check_published(&self, message: &Published, origin: &str) -> ApiTopic {
        assert_eq!(message.frames.len(), 2, "{origin}: a message is two frames");
        let number = message.topic().expect("a 4-byte topic frame");
        self.check("topic.schema.json", &json!(number), origin);
        let topic = ApiTopic::from_value(number);
        let file = match topic {
            ApiTopic::Heartbeat => "heartbeat.schema.json",
            ApiTopic::Emergency => "emergency.schema.json",
            ApiTopic::Event => "event.schema.json",
            ApiTopic::PropertyChange => "property-change.schema.json",
            ApiTopic::CommandResult => "command-result.schema.json",
            other => panic!("{origin}: published on {other}"),
        };
        let body = message.json();
        self.check(file, &body, origin);
        // systemStatus is 601 in both generations.
        if topic == ApiTopic::Event && body["kind"] == ApiEventKind::SystemStatus.value() {
            self.check("system-status.schema.json", &body["context"], origin);
        }
        topic
    }

    /// Checks a reply, and its typed payload when it has one.
    fn check_reply(&self, reply: &Value, origin: &str) {
        self.check("command-reply.schema.json", reply, origin);
        if reply["result"] == ApiCommandRequestResult::Success.value() && !reply["data"].is_null() {
            let command = Command::read(
                Some(self.generation),
                reply["command"].as_i64().unwrap_or(-1),
            );
            let data = &reply["data"];
            match self.generation {
                Generation::V0_9 => match command.v0_9() {
                    Some(ApiCommand::GetStatus) => {
                        self.check("status-response.schema.json", data, origin)
                    }
                    Some(ApiCommand::GetConfiguration) => {
                        self.check("configuration-response.schema.json", data, origin)
                    }
                    _ => {}
                },
                Generation::V0_12 => match command.v0_12() {
                    Some(v0_12::ApiCommand::GetStatus) => {
                        self.check("system-status.schema.json", data, origin)
                    }
                    Some(v0_12::ApiCommand::GetConfiguration) => {
                        self.check("system-configuration.schema.json", data, origin)
                    }
                    Some(v0_12::ApiCommand::GetAnimals) => {
                        for animal in data.as_array().expect("GET_ANIMALS data is a list") {
                            self.check("animal-status.schema.json", animal, origin)
                        }
                    }
                    _ => {}
                },
            }
        }
    }
}

#[test]
fn committed_schemas_are_what_the_rust_types_generate() {
    let generated = wire_schemas();
    let mut stale = Vec::new();
    for schema in &generated {
        let path = schema_dir().join(&schema.file_name);
        match std::fs::read_to_string(&path) {
            Ok(text) if text == schema.to_file_text() => {}
            Ok(_) => stale.push(format!("{} differs", schema.file_name)),
            Err(_) => stale.push(format!("{} is missing", schema.file_name)),
        }
    }
    for path in schema_files(&schema_dir()) {
        let name = path
            .strip_prefix(schema_dir())
            .expect("under proto-schema/")
            .to_string_lossy()
            .replace('\\', "/");
        if !generated.iter().any(|s| s.file_name == name) {
            stale.push(format!("{name} is not generated any more"));
        }
    }
    assert!(
        stale.is_empty(),
        "proto-schema/ is out of date with the Rust wire types ({}); \
         run scripts/generate-schemas.sh and commit the result",
        stale.join(", ")
    );
}

#[test]
fn schemas_are_valid_draft_2020_12_and_name_every_code() {
    for schema in wire_schemas() {
        assert_eq!(
            schema.schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{}",
            schema.file_name
        );
        if let Err(e) = jsonschema::draft202012::meta::validate(&schema.schema) {
            panic!("{} is not a valid schema: {e}", schema.file_name);
        }
    }
    let file = |name: &str| {
        wire_schemas()
            .into_iter()
            .find(|s| s.file_name == format!("0.9/{name}"))
            .unwrap_or_else(|| panic!("no {name}"))
            .schema
    };
    fn names(codes: &Value) -> Vec<(i64, String)> {
        codes["oneOf"]
            .as_array()
            .expect("a code schema lists its values in oneOf")
            .iter()
            .map(|code| {
                (
                    code["const"].as_i64().expect("const"),
                    code["title"].as_str().expect("title").to_owned(),
                )
            })
            .collect()
    }
    fn known<T: Copy>(
        all: &[T],
        value: impl Fn(T) -> i64,
        name: impl Fn(T) -> Option<&'static str>,
    ) -> Vec<(i64, String)> {
        all.iter()
            .map(|v| (value(*v), name(*v).unwrap().to_owned()))
            .collect()
    }
    let request = file("command-request.schema.json");
    assert_eq!(
        names(&request["$defs"]["ApiCommand"]),
        known(ApiCommand::ALL, ApiCommand::value, ApiCommand::name)
    );
    let reply = file("command-reply.schema.json");
    assert_eq!(
        names(&reply["$defs"]["ApiCommandRequestResult"]),
        known(
            ApiCommandRequestResult::ALL,
            ApiCommandRequestResult::value,
            ApiCommandRequestResult::name
        )
    );
    assert_eq!(
        names(&reply["$defs"]["ApiCommandRequestErrorKind"]),
        known(
            ApiCommandRequestErrorKind::ALL,
            ApiCommandRequestErrorKind::value,
            ApiCommandRequestErrorKind::name
        )
    );
    let event = file("event.schema.json");
    assert_eq!(
        names(&event["$defs"]["ApiEventKind"]),
        known(ApiEventKind::ALL, ApiEventKind::value, ApiEventKind::name)
    );
    assert_eq!(
        names(&file("topic.schema.json")),
        known(ApiTopic::ALL, |t| i64::from(t.value()), ApiTopic::name)
    );
    let status = file("status-response.schema.json");
    assert_eq!(
        names(&status["$defs"]["ApiAppStatus"]),
        known(ApiAppStatus::ALL, ApiAppStatus::value, ApiAppStatus::name)
    );
    // Meanings come from the doc comments.
    let none = &request["$defs"]["ApiCommand"]["oneOf"][0];
    assert_eq!(
        none["description"],
        "No command: checks that the device answers."
    );

    // 0.12's files carry 0.12's catalogs, wherever a command or kind is named.
    let file = |name: &str| {
        wire_schemas()
            .into_iter()
            .find(|s| s.file_name == format!("0.12/{name}"))
            .unwrap_or_else(|| panic!("no 0.12/{name}"))
            .schema
    };
    let commands = known(
        v0_12::ApiCommand::ALL,
        v0_12::ApiCommand::value,
        v0_12::ApiCommand::name,
    );
    for name in [
        "command-request.schema.json",
        "command-reply.schema.json",
        "command-result.schema.json",
    ] {
        assert_eq!(
            names(&file(name)["$defs"]["ApiCommand"]),
            commands,
            "{name}"
        );
    }
    assert_eq!(
        names(&file("event.schema.json")["$defs"]["ApiEventKind"]),
        known(
            v0_12::ApiEventKind::ALL,
            v0_12::ApiEventKind::value,
            v0_12::ApiEventKind::name
        )
    );
    let status = file("system-status.schema.json");
    assert_eq!(
        names(&status["$defs"]["ApiApplicationMode"]),
        known(
            v0_12::ApiApplicationMode::ALL,
            v0_12::ApiApplicationMode::value,
            v0_12::ApiApplicationMode::name
        )
    );
    // Every kind's context is typed: 107 kinds in the groups of the event schema.
    let typed: usize = file("event.schema.json")["allOf"]
        .as_array()
        .expect("one case per context type")
        .iter()
        .map(|case| {
            case["if"]["properties"]["kind"]["enum"]
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(typed, v0_12::ApiEventKind::ALL.len());
}

/// The `*.schema.json` files in `dir` and its subdirectories.
fn schema_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in std::fs::read_dir(dir)
        .expect("a readable directory")
        .map(|e| e.expect("directory entry").path())
    {
        if path.is_dir() {
            files.extend(schema_files(&path));
        } else if path.to_string_lossy().ends_with(".schema.json") {
            files.push(path);
        }
    }
    files
}

fn sample_status() -> StatusResponse {
    StatusResponse {
        app_status: ApiAppStatus::Acquiring,
        training_mode: ApiTrainingMode::Automatic,
        animal_id: "m-001".into(),
    }
}

fn sample_configuration() -> ConfigurationResponse {
    ConfigurationResponse {
        application_version: "2.1.0".into(),
        device_id: "rig-7".into(),
        configuration_location: "/etc/rig".into(),
        data_location: "/data".into(),
        animal_location: "/data/animals".into(),
        log_location: "/var/log/rig".into(),
        inference_model: "reach-v3".into(),
    }
}

fn sample_system_status() -> ApiSystemStatus {
    ApiSystemStatus {
        alarms: vec![ApiAlarmStatus {
            alarm_id: ApiAlarmKind::AnimalMissing,
            is_active: true,
            is_enabled: true,
        }],
        detectors: vec![ApiDetectorStatus {
            detector_id: ApiDetectorKind::FrontDoor,
            is_active: false,
            is_enabled: true,
        }],
        pellet: PelletStatus {
            send_x: 1.5,
            send_y: -2.0,
            send_z: 0.25,
        },
        headfix: HeadFixStatus {
            current_magnet_intensity: 0.5,
            baseline_magnet_intensity: 0.125,
        },
    }
}

/// The requests of a session that reach the app: every command, and an
/// unknown number, with the result each gets (the same in both sessions).
fn well_formed_requests() -> Vec<Value> {
    vec![
        json!({"command": 400, "nonce": 2}),
        json!({"command": 300, "nonce": 3}),
        json!({"command": 100, "nonce": 4}),
        json!({"command": 110, "nonce": 5}),
        json!({"command": 200, "nonce": 6}),
        json!({"command": 99999, "nonce": 7, "customCommand": 2}),
        json!({"command": 210, "nonce": 8, "data": {"reasonText": "cleared", "nested": {"someKey": [1, {"innerKey": 2}]}}}),
        json!({"command": 0}),
        json!({"command": 12345, "nonce": 9}),
    ]
}

/// Requests only our service survives (the reference's command loop dies on
/// each, defect 1): each gets an error reply.
fn malformed_requests() -> Vec<Vec<u8>> {
    vec![
        b"not json".to_vec(),
        vec![0xff, 0xfe, 0x7b],
        Vec::new(),
        b"[1, 2]".to_vec(),
        br#"{"nonce": 10}"#.to_vec(),
        br#"{"command": "GET_STATUS", "nonce": 11}"#.to_vec(),
        br#"{"command": 400, "nonce": "x"}"#.to_vec(),
        br#"{"command": 400, "nonce": 12, "customCommand": "x"}"#.to_vec(),
        // Valid JSON the reference cannot read either.
        br#"{"command": 0, "nonce": 13, "data": {"name": "caf\u00E9"}}"#.to_vec(),
    ]
}

/// Events the app publishes in both sessions: (kind, context).
fn session_events() -> Vec<(ApiEventKind, Value)> {
    vec![
        (ApiEventKind::ApplicationLaunched, Value::Null),
        (
            ApiEventKind::SystemStatus,
            serde_json::to_value(sample_system_status()).unwrap(),
        ),
        (
            ApiEventKind::DetectorChanged,
            serde_json::to_value(&sample_system_status().detectors[0]).unwrap(),
        ),
        (ApiEventKind::EmergencyStop, json!({"reason": "door open"})),
        (
            ApiEventKind::EmergencyResume,
            json!({"reason": "door closed"}),
        ),
    ]
}

fn property_change() -> Value {
    json!({"property_name": "pellet_count", "new_value": 3, "device_state": {"is_ready": true}})
}

/// Receives published messages until `done` holds for the counts per topic.
fn collect(sub: &SubCollector, done: impl Fn(&HashMap<ApiTopic, usize>) -> bool) -> Vec<Published> {
    let deadline = Instant::now() + WAIT;
    let mut counts = HashMap::new();
    let mut messages = Vec::new();
    while !done(&counts) {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = sub
            .recv(left)
            .unwrap_or_else(|| panic!("published messages missing after {WAIT:?}: got {counts:?}"));
        let topic = ApiTopic::from_value(message.topic().expect("4-byte topic"));
        *counts.entry(topic).or_insert(0) += 1;
        messages.push(message);
    }
    messages
}

/// What a session must have published, per topic (heartbeats come on their own).
fn published_enough(counts: &HashMap<ApiTopic, usize>) -> bool {
    let n = |t| counts.get(&t).copied().unwrap_or(0);
    let events = session_events().len();
    let emergencies = session_events()
        .iter()
        .filter(|(k, _)| k.is_emergency())
        .count();
    n(ApiTopic::Heartbeat) >= 1
        && n(ApiTopic::Event) >= events
        && n(ApiTopic::Emergency) >= emergencies
        && n(ApiTopic::PropertyChange) >= 1
        && n(ApiTopic::CommandResult) >= 1
}

fn tally<'a>(replies: impl IntoIterator<Item = &'a Value>, key: &str) -> BTreeSet<i64> {
    replies
        .into_iter()
        .filter_map(|r| r[key].as_i64())
        .collect()
}

#[test]
fn every_message_of_our_service_matches_the_schemas() {
    let schemas = Schemas::load(Generation::V0_9);
    let mut options = RpcOptions::loopback();
    options.identifier = "schema-test".into();
    options.heartbeat_interval = Duration::from_millis(100);
    let service = ZeroMqRpcService::new(options);
    service.start().expect("start the service");

    let sub = SubCollector::connect(service.subscriber_port(), &[]);
    // A heartbeat proves the subscription has joined: nothing after it is lost.
    sub.recv_topic(ApiTopic::Heartbeat.value(), WAIT)
        .expect("no heartbeat");
    let mut req = ReqClient::connect(service.command_port());
    let mut replies = Vec::new();

    // No delegate yet: UNAVAILABLE.
    replies.push(req.request_json(&json!({"command": 0, "nonce": 1})));

    let (pending_tx, pending_rx) = mpsc::channel();
    let pending_tx = Mutex::new(pending_tx);
    service.set_delegate(
        move |request: ApiCommandRequest, context: &RequestContext| match request.command {
            ApiCommand::GetStatus => {
                ApiCommandRequestResponse::success().with_data(&sample_status())
            }
            ApiCommand::GetConfiguration => {
                ApiCommandRequestResponse::success().with_data(&sample_configuration())
            }
            ApiCommand::StartAcquisition => {
                let _ = pending_tx.lock().unwrap().send(context.accept_pending());
                ApiCommandRequestResponse::pending_with_notification()
            }
            ApiCommand::StopAcquisition => ApiCommandRequestResponse::failed(7, "not acquiring"),
            ApiCommand::EmergencyStop => panic!("the door sensor is unplugged"),
            ApiCommand::UserDefined => {
                // Keys that are not strings cannot become JSON: the fallback reply.
                let unserializable: BTreeMap<(i32, i32), i32> = [((1, 2), 3)].into();
                ApiCommandRequestResponse::success().with_data(&unserializable)
            }
            ApiCommand::EmergencyResume => {
                ApiCommandRequestResponse::new(ApiCommandRequestResult::Pending)
                    .with_data(&request.data)
            }
            ApiCommand::None => ApiCommandRequestResponse::success(),
            _ => ApiCommandRequestResponse::unrecognized(),
        },
    );

    for request in well_formed_requests() {
        let known = ApiCommand::from_value(request["command"].as_i64().unwrap()).is_known();
        assert_eq!(
            schemas.accepts("command-request.schema.json", &request),
            known,
            "the request schema accepts exactly the known commands: {request}"
        );
        replies.push(req.request_json(&request));
    }
    let malformed: Vec<Value> = malformed_requests()
        .iter()
        .map(|bytes| parse_json(&req.request(bytes)))
        .collect();
    for reply in replies.iter().chain(&malformed) {
        schemas.check_reply(reply, "our reply");
    }
    assert_eq!(
        tally(&replies, "result"),
        ApiCommandRequestResult::ALL
            .iter()
            .map(|r| r.value())
            .collect(),
        "the session covers every result"
    );
    assert_eq!(
        tally(replies.iter().chain(&malformed), "errorKind"),
        ApiCommandRequestErrorKind::ALL
            .iter()
            .map(|k| k.value())
            .collect(),
        "the session covers every error kind"
    );
    assert!(malformed
        .iter()
        .any(|r| r["errorKind"] == ApiCommandRequestErrorKind::SystemError.value()));

    // The pending command finishes: its COMMAND_RESULT.
    let handle = pending_rx
        .recv_timeout(WAIT)
        .expect("START_ACQUISITION was pending");
    handle
        .complete(ApiCommandRequestResponse::success().with_data(&json!({"frames_written": 10})))
        .expect("complete the pending command");
    for (kind, context) in session_events() {
        let context = (!context.is_null()).then_some(context);
        service
            .publish_event(ApiEvent::new(kind, context))
            .expect("publish event");
    }
    service
        .publish_json(ApiTopic::PropertyChange, property_change())
        .expect("publish property change");

    let published = collect(&sub, published_enough);
    let mut results = Vec::new();
    for message in &published {
        if schemas.check_published(message, "our service") == ApiTopic::CommandResult {
            results.push(message.json());
        }
    }
    let result = &results[0];
    assert_eq!(result["nonce"], 4, "{result}");
    assert_eq!(
        result["command"],
        ApiCommand::StartAcquisition.value(),
        "{result}"
    );
    assert_eq!(result["data"], json!({"framesWritten": 10}), "{result}");
    service.stop();
}

/// The reference with a delegate whose GET_STATUS and GET_CONFIGURATION
/// answers are the reference's own dataclasses (it turns them into
/// dictionaries itself), built from plain field values, not from our types.
fn start_reference() -> ReferenceService {
    let answers = json!({
        "400": {"result": 100, "dataclass": {"type": "StatusResponse", "fields": {
            "app_status": 100, "training_mode": 300, "animal_id": "m-001",
        }}},
        "300": {"result": 100, "dataclass": {"type": "ConfigurationResponse", "fields": {
            "application_version": "2.1.0", "device_id": "rig-7",
            "configuration_location": "/etc/rig", "data_location": "/data",
            "animal_location": "/data/animals", "log_location": "/var/log/rig",
            "inference_model": "reach-v3",
        }}},
        "100": {"result": 201},
        "110": {"result": 400, "error_code": 7, "error_message": "not acquiring"},
        "200": {"raise": "the door sensor is unplugged"},
        "99999": {"unserializable": true},
        "210": {"result": 200, "data": {"reason_text": "cleared"}},
        "0": {"result": 0},
    });
    start_reference_service(
        "0.2",
        Some(&answers),
        &["--identifier", "schema-reference"],
        Duration::from_secs(60),
    )
}

#[test]
fn every_message_of_the_python_reference_matches_the_schemas() {
    let schemas = Schemas::load(Generation::V0_9);
    let ReferenceService {
        process: mut reference,
        pub_port,
        cmd_port,
    } = start_reference();

    let sub = SubCollector::connect(pub_port, &[]);
    sub.recv_topic(ApiTopic::Heartbeat.value(), WAIT)
        .expect("no heartbeat from the reference");
    let mut req = ReqClient::with_timeout(cmd_port, Duration::from_secs(10));
    // Malformed requests are left out: the reference never answers them.
    let replies: Vec<Value> = well_formed_requests()
        .iter()
        .map(|request| req.request_json(request))
        .collect();
    for reply in &replies {
        schemas.check_reply(reply, "reference reply");
    }
    let mut expected: BTreeSet<i64> = ApiCommandRequestResult::ALL
        .iter()
        .map(|r| r.value())
        .collect();
    expected.remove(&ApiCommandRequestResult::Unavailable.value());
    assert_eq!(tally(&replies, "result"), expected, "{replies:?}");
    assert_eq!(
        tally(&replies, "errorKind"),
        ApiCommandRequestErrorKind::ALL
            .iter()
            .map(|k| k.value())
            .collect(),
        "{replies:?}"
    );

    // What an app publishes through the reference, as its README says: the
    // pending command's result as its own ApiCommandRequestResponse
    // (addressed by hand), events as the README's dictionary with its
    // ApiEventKind members, stamped by Python, a property change.
    let mut sends = vec![json!({"send_dataclass": {
        "topic": ApiTopic::CommandResult.value(),
        "type": "ApiCommandRequestResponse",
        "fields": {"result": 100, "data": {"frames_written": 10}, "command": 100, "nonce": 4},
    }})];
    for (kind, context) in session_events() {
        sends.push(json!({"send_event": {"kind": kind.value(), "context": context}}));
    }
    sends.push(json!({"send_dict": {"topic": ApiTopic::PropertyChange.value(), "message": property_change()}}));
    for send in &sends {
        reference.send_line(send);
    }

    let published = collect(&sub, published_enough);
    for message in &published {
        schemas.check_published(message, "reference");
    }
    reject_broken_copies(&schemas, &replies, &published);

    reference.send_line(&json!({"stop": true}));
    reference.close_stdin();
    let status = reference
        .wait_exit(Duration::from_secs(10))
        .expect("the reference did not exit");
    assert!(status.success(), "the reference exited with {status}");
}

/// The reference's own messages, each broken in one way the schemas must
/// catch: its GET_STATUS and GET_CONFIGURATION data, its EVENT, heartbeat
/// and COMMAND_RESULT bodies, each without a required key, and with a
/// string or an unknown code where a known number belongs.
fn reject_broken_copies(schemas: &Schemas, replies: &[Value], published: &[Published]) {
    let mut broken = 0;
    let mut check = |file: &str, original: &Value, key: &str, wrong: Value| {
        let mut without = original.clone();
        without
            .as_object_mut()
            .unwrap()
            .remove(key)
            .expect("the key is there");
        let mut swapped = original.clone();
        swapped[key] = wrong;
        for copy in [without, swapped] {
            assert!(!schemas.accepts(file, &copy), "{file} accepts {copy}");
            broken += 1;
        }
    };
    let data_of = |command: ApiCommand| {
        replies
            .iter()
            .find(|reply| reply["command"] == command.value() && reply["result"] == 100)
            .map(|reply| reply["data"].clone())
            .unwrap_or_else(|| panic!("no {command} reply"))
    };
    let status = data_of(ApiCommand::GetStatus);
    check(
        "status-response.schema.json",
        &status,
        "appStatus",
        json!(12345),
    );
    check("status-response.schema.json", &status, "animalId", json!(7));
    let configuration = data_of(ApiCommand::GetConfiguration);
    check(
        "configuration-response.schema.json",
        &configuration,
        "deviceId",
        json!(null),
    );
    let body_of = |topic: ApiTopic| {
        published
            .iter()
            .find(|message| message.topic() == Some(topic.value()))
            .map(Published::json)
            .unwrap_or_else(|| panic!("nothing on {topic}"))
    };
    check(
        "event.schema.json",
        &body_of(ApiTopic::Event),
        "kind",
        json!("101"),
    );
    check(
        "heartbeat.schema.json",
        &body_of(ApiTopic::Heartbeat),
        "identifier",
        json!(1),
    );
    let result = body_of(ApiTopic::CommandResult);
    check(
        "command-result.schema.json",
        &result,
        "result",
        json!(12345),
    );
    check("command-result.schema.json", &result, "nonce", json!("4"));
    assert_eq!(broken, 14);
}

/// A valid example of each message, and the same with one thing broken.
fn valid_examples() -> Vec<(&'static str, Value)> {
    vec![
        ("command-request.schema.json", json!({"command": 400})),
        (
            "command-reply.schema.json",
            json!({"nonce": 7, "command": 400, "result": 100, "data": {"appStatus": 0, "trainingMode": 100, "animalId": "m1"},
                   "errorKind": 0, "errorCode": 0, "errorMessage": null}),
        ),
        (
            "heartbeat.schema.json",
            json!({"identifier": "rig-7", "version": "0.9.11", "timestamp": 1_700_000_000.5}),
        ),
        (
            "event.schema.json",
            json!({"kind": 301, "when": 1_700_000_000.25, "index": 123, "context": {"trialNumber": 3}}),
        ),
        (
            "emergency.schema.json",
            json!({"kind": 101, "when": 1_700_000_000.25, "index": 123, "context": {"reason": "door"}}),
        ),
        (
            "command-result.schema.json",
            json!({"result": 100, "data": null, "errorCode": 0, "errorMessage": null, "command": 100, "nonce": 4}),
        ),
    ]
}

#[test]
fn a_wrong_type_a_missing_key_or_an_unknown_code_is_rejected() {
    let schemas = Schemas::load(Generation::V0_9);
    for (file, example) in valid_examples() {
        schemas.check(file, &example, "valid example");
    }
    let broken = |file: &str, change: &dyn Fn(&mut Value)| {
        let (_, mut message) = valid_examples()
            .into_iter()
            .find(|(f, _)| *f == file)
            .unwrap();
        change(&mut message);
        assert!(
            !schemas.accepts(file, &message),
            "{file} accepted a broken message: {message}"
        );
    };
    let set = |key: &'static str, value: Value| move |m: &mut Value| m[key] = value.clone();
    let remove = |key: &'static str| {
        move |m: &mut Value| {
            m.as_object_mut().unwrap().remove(key);
        }
    };

    // Wrong types.
    broken("command-request.schema.json", &set("nonce", json!("7")));
    broken(
        "command-request.schema.json",
        &set("command", json!("GET_STATUS")),
    );
    broken("command-reply.schema.json", &set("errorCode", json!(1.5)));
    broken("heartbeat.schema.json", &set("timestamp", json!("now")));
    broken("event.schema.json", &set("index", json!(1.5)));
    broken(
        "command-result.schema.json",
        &set("errorMessage", json!(42)),
    );
    broken("command-reply.schema.json", &|m| {
        m["data"]["animalId"] = json!(42)
    });

    // Missing required keys (snake_case is a missing camelCase key, too).
    broken("command-request.schema.json", &remove("command"));
    broken("command-reply.schema.json", &remove("errorKind"));
    broken("heartbeat.schema.json", &remove("version"));
    broken("event.schema.json", &remove("index"));
    broken("command-result.schema.json", &remove("nonce"));
    broken("command-reply.schema.json", &|m| {
        let kind = m.as_object_mut().unwrap().remove("errorKind").unwrap();
        m["error_kind"] = kind;
    });
    broken("command-reply.schema.json", &|m| {
        m["data"].as_object_mut().unwrap().remove("animalId");
    });

    // Unknown codes.
    broken("command-request.schema.json", &set("command", json!(12345)));
    broken("event.schema.json", &set("kind", json!(777)));
    broken("emergency.schema.json", &set("kind", json!(301)));
    broken("command-reply.schema.json", &set("result", json!(12)));
    broken("command-reply.schema.json", &set("errorKind", json!(3)));
    assert!(!schemas.accepts("topic.schema.json", &json!(4002)));

    // Keys of the request are open (ignored); an unknown echoed command is
    // part of the reply's contract (the request's number, as sent).
    schemas.check(
        "command-request.schema.json",
        &json!({"command": 0, "nonce": -5, "data": [1], "customCommand": 3, "extra": true}),
        "request with extras",
    );
    let mut reply = valid_examples()[1].1.clone();
    reply["command"] = json!(12345);
    reply["result"] = json!(0);
    schemas.check(
        "command-reply.schema.json",
        &reply,
        "echo of an unknown command",
    );
}

// --- 0.12 ---------------------------------------------------------------------------------------

/// The requests of a 0.12 session, each answered with a typed payload or
/// a plain result by both implementations (the reference's answers are
/// [`reference_v0_12_answers`], ours [`our_v0_12_answer`]).
fn v0_12_requests() -> Vec<Value> {
    vec![
        json!({"command": 400, "nonce": 2}),
        json!({"command": 300, "nonce": 3}),
        json!({"command": 500, "nonce": 4}),
        json!({"command": 120, "nonce": 5, "data": {"mode": 100}}),
        json!({"command": 1070, "nonce": 6, "data": {"enabled": true}}),
        json!({"command": 200, "nonce": 7}),
        json!({"command": 50, "nonce": 8}),
        json!({"command": 0, "nonce": 9}),
    ]
}

fn reference_v0_12_answers() -> Value {
    json!({
        "400": {"typed": {"type": "ApiSystemStatus", "fields": status_fields()}},
        "300": {"typed": {"type": "ApiSystemConfiguration", "fields": configuration_fields()}},
        "500": {"typed": {"type": "List[ApiAnimalStatus]", "fields": animals_fields()}},
        "120": {"result": 201},
        "1070": {"result": 100, "data": {"enabled": true}},
        "200": {"result": 100},
        "50": {"result": 0},
    })
}

fn our_v0_12_answer(request: &v0_12::ApiCommandRequest) -> ApiCommandRequestResponse {
    use v0_12::ApiCommand as C;
    match request.command {
        C::GetStatus => ApiCommandRequestResponse::success()
            .with_data(&decode_payload::<v0_12::ApiSystemStatus>(&status_fields()).unwrap()),
        C::GetConfiguration => ApiCommandRequestResponse::success().with_data(
            &decode_payload::<v0_12::ApiSystemConfiguration>(&configuration_fields()).unwrap(),
        ),
        C::GetAnimals => ApiCommandRequestResponse::success()
            .with_data(&decode_payload::<Vec<v0_12::ApiAnimalStatus>>(&animals_fields()).unwrap()),
        C::SetApplicationMode => ApiCommandRequestResponse::pending_with_notification(),
        C::SetAutoClampEnabled => {
            ApiCommandRequestResponse::success().with_data(&json!({"enabled": true}))
        }
        C::EmergencyStop => ApiCommandRequestResponse::success(),
        _ => ApiCommandRequestResponse::unrecognized(),
    }
}

/// The pending SET_APPLICATION_MODE's result, as both publish it.
fn v0_12_result() -> Value {
    json!({"result": 100, "data": {"mode": 100}, "error_code": 0, "error_message": null, "command": 120, "nonce": 5})
}

/// Every message of a 0.12 session validates against `proto-schema/0.12/`,
/// for the 0.12 reference and for our 0.12 service: the replies to the
/// session's requests (typed GET_STATUS, GET_CONFIGURATION and GET_ANIMALS
/// data), an event of every one of the 107 kinds made by the reference's own
/// `build_event` (both of its publish paths' bytes, then published live by
/// its service and by ours), heartbeats and a command result.
#[test]
fn every_0_12_message_of_the_reference_and_of_our_service_matches_the_0_12_schemas() {
    let schemas = Schemas::load(Generation::V0_12);
    let built = reference_built_events();
    for event in &built {
        for bytes in [&event.event, &event.dict] {
            let body = parse_json(bytes);
            let origin = format!("the reference's {}", event.name);
            schemas.check("event.schema.json", &body, &origin);
            if body["kind"].as_i64().is_some_and(|k| k == 101 || k == 102) {
                schemas.check("emergency.schema.json", &body, &origin);
            }
        }
    }
    // Sent live again below; not the one with an int for a float field,
    // which the reference's typed contexts refuse.
    let events: Vec<v0_12::ApiEvent> = built
        .iter()
        .filter(|b| b.ours.as_bytes() == b.event)
        .map(|b| ApiEvent::from_wire(&b.event).expect("a 0.12 event"))
        .collect();
    let emergencies = events.iter().filter(|e| e.is_emergency()).count();
    for request in v0_12_requests() {
        let known = v0_12::ApiCommand::from_value(request["command"].as_i64().unwrap()).is_known();
        assert!(
            known && schemas.accepts("command-request.schema.json", &request),
            "{request}"
        );
    }
    let session_done = |counts: &HashMap<ApiTopic, usize>| {
        let n = |t| counts.get(&t).copied().unwrap_or(0);
        n(ApiTopic::Heartbeat) >= 1
            && n(ApiTopic::Event) >= events.len()
            && n(ApiTopic::Emergency) >= emergencies
            && n(ApiTopic::CommandResult) >= 1
    };
    let check_session = |replies: &[Value], published: &[Published], origin: &str| {
        for reply in replies {
            schemas.check_reply(reply, origin);
        }
        let typed = replies
            .iter()
            .filter(|r| r["result"] == 100 && (r["data"].is_object() || r["data"].is_array()))
            .count();
        assert!(typed >= 3, "{origin}: typed replies {replies:?}");
        for message in published {
            schemas.check_published(message, origin);
        }
    };

    // The reference, live.
    let mut reference = Reference::start("0.2", Some(&reference_v0_12_answers()), &[]);
    let sub = reference.joined(&[]);
    let mut req = ReqClient::with_timeout(reference.cmd_port, Duration::from_secs(10));
    let replies: Vec<Value> = v0_12_requests()
        .iter()
        .map(|r| req.request_json(r))
        .collect();
    for event in &events {
        let context = event.context.clone().map(to_snake_keys);
        reference.send(json!({"send_event": {
            "kind": event.kind.value(), "context": context, "repeat": event.repeat,
        }}));
    }
    reference.send(json!({ "send_command_result": v0_12_result() }));
    let published = collect(&sub, session_done);
    check_session(&replies, &published, "the 0.12 reference");
    reference.stop();

    // Ours, the same session.
    let mut options = RpcOptions::loopback();
    options.protocol = Generation::V0_12;
    options.heartbeat_interval = Duration::from_millis(200);
    let service = ZeroMqRpcService::new(options);
    service.set_delegate(|request: v0_12::ApiCommandRequest, _: &RequestContext| {
        our_v0_12_answer(&request)
    });
    service.start().expect("start our 0.12 service");
    let sub = joined(&service, &[]);
    let mut req = ReqClient::connect(service.command_port());
    let replies: Vec<Value> = v0_12_requests()
        .iter()
        .map(|r| req.request_json(r))
        .collect();
    for event in events.iter().cloned() {
        service.publish_event(event).expect("publish");
    }
    let result: ApiCommandRequestResponse =
        serde_json::from_value(to_camel_keys(v0_12_result())).unwrap();
    service
        .publish_command_result(result)
        .expect("publish the result");
    let published = collect(&sub, session_done);
    check_session(&replies, &published, "our 0.12 service");
    service.stop();
}
