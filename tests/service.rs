//! The device side over real ZeroMQ sockets on 127.0.0.1: start and stop,
//! publishing, the queue's overflow policy, heartbeats, command requests
//! (malformed ones included), pending commands, and embedding in tokio.
//!
//! The peers are raw `zmq` sockets (`tests/common/zmq_client.rs`), not this
//! crate's client. Every wait has a timeout; subscribers join by probing.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use auto_trainer_api::{
    ApiCommand, ApiCommandRequest, ApiCommandRequestResponse, ApiCommandRequestResult, ApiEvent,
    ApiEventKind, ApiTopic, CompletionHandle, Error, Generation, RequestContext, RpcOptions,
    RpcService, ServiceStats, ZeroMqRpcService, DATA_SERIALIZATION_ERROR,
    ERROR_CODE_STOPPED_WHILE_PENDING,
};
use common::zmq_client::{joined, parse_json, Published, ReqClient, SubCollector};
use serde::Serialize;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(5);
const HEARTBEAT: u32 = ApiTopic::Heartbeat.value();
const EMERGENCY: u32 = ApiTopic::Emergency.value();
const EVENT: u32 = ApiTopic::Event.value();
const PROPERTY_CHANGE: u32 = ApiTopic::PropertyChange.value();
const COMMAND_RESULT: u32 = ApiTopic::CommandResult.value();

/// Loopback options with heartbeats out of the way.
fn options() -> RpcOptions {
    let mut options = RpcOptions::loopback();
    options.identifier = "service-tests".into();
    options.heartbeat_interval = Duration::from_secs(3600);
    options
}

fn started(options: RpcOptions) -> ZeroMqRpcService {
    let service = ZeroMqRpcService::new(options);
    service.start().expect("start");
    service
}

fn next(sub: &SubCollector) -> Published {
    sub.recv(WAIT)
        .unwrap_or_else(|| panic!("no message within {WAIT:?}"))
}

fn frames(topic: u32, body: &[u8]) -> Vec<Vec<u8>> {
    vec![topic.to_le_bytes().to_vec(), body.to_vec()]
}

/// Publishes a fence (see [`SubCollector::expect_fence_next`]) through `service`.
fn fence(service: &ZeroMqRpcService, sub: &SubCollector) {
    sub.expect_fence_next(|topic, body| {
        service
            .publish_json(ApiTopic::from_value(topic), body)
            .expect("publish the fence")
    });
}

/// The next messages are `expected` (topic and body frames), in order, and
/// nothing else was published before a fence that follows.
fn expect_exactly(
    service: &ZeroMqRpcService,
    sub: &SubCollector,
    expected: impl IntoIterator<Item = Vec<Vec<u8>>>,
) {
    for want in expected {
        let got = next(sub);
        assert_eq!(
            got.frames,
            want,
            "\n got: {:?}\nwant: {:?}",
            String::from_utf8_lossy(got.body()),
            String::from_utf8_lossy(&want[1])
        );
    }
    fence(service, sub);
}

fn event(kind: ApiEventKind, index: i64, context: Option<Value>) -> ApiEvent {
    ApiEvent {
        kind,
        when: 1_700_000_000.5,
        index,
        context,
        repeat: 0,
    }
}

/// The keys of a JSON object, in order.
fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

const REPLY_KEYS: [&str; 7] = [
    "nonce",
    "command",
    "result",
    "data",
    "errorKind",
    "errorCode",
    "errorMessage",
];

/// A delegate that forwards every request to the test and answers SUCCESS,
/// echoing the request's data.
fn recording_delegate() -> (
    impl Fn(ApiCommandRequest, &RequestContext) -> ApiCommandRequestResponse,
    Receiver<ApiCommandRequest>,
) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let delegate = move |request: ApiCommandRequest, _: &RequestContext| {
        let data = request.data.clone();
        let _ = tx.lock().unwrap().send(request);
        ApiCommandRequestResponse::success().with_data(&data)
    };
    (delegate, rx)
}

/// Waits (bounded) until `done` holds for the service's counters.
fn wait_for_stats(service: &ZeroMqRpcService, what: &str, done: impl Fn(&ServiceStats) -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done(&service.stats()) {
        assert!(Instant::now() < deadline, "{what}: {:?}", service.stats());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A well-formed GET_STATUS round trip that must succeed.
fn assert_serving(req: &mut ReqClient, nonce: i64) {
    let reply = req.request_json(&json!({"command": 400, "nonce": nonce}));
    assert_eq!(reply["nonce"], nonce, "{reply}");
    assert_eq!(reply["command"], 400, "{reply}");
    assert_ne!(reply["result"], 0, "{reply}");
    assert_eq!(reply["errorKind"], 0, "{reply}");
}

mod lifecycle {
    use super::*;

    #[test]
    fn a_command_port_in_use_is_a_bind_error_from_start_and_start_can_be_retried() {
        // A port of ours, released: its bind on retry shows the failed start
        // released it (an ephemeral port is not handed out again at once).
        let fixed_pub_port = common::python::free_port();
        let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
        let cmd_port = taken.local_addr().unwrap().port();
        let mut opts = options();
        opts.subscriber_port = fixed_pub_port;
        opts.command_port = cmd_port;
        let service = ZeroMqRpcService::new(opts);

        // The PUB socket binds first; the REP socket then fails.
        match service.start() {
            Err(Error::Bind { endpoint, source }) => {
                assert_eq!(endpoint, format!("tcp://127.0.0.1:{cmd_port}"));
                assert!(!source.to_string().is_empty(), "the cause is kept");
            }
            other => panic!("expected Error::Bind, got {other:?}"),
        }
        assert!(!service.is_running());
        assert!(matches!(
            service.publish_str(ApiTopic::Event, "{}"),
            Err(Error::NotRunning)
        ));

        // A failed start releases what it bound (the fixed PUB port binds
        // again) and may be retried.
        drop(taken);
        service.start().expect("start once the port is free");
        assert!(service.is_running());
        assert_eq!(service.subscriber_port(), fixed_pub_port);
        assert_eq!(service.command_port(), cmd_port);
        assert_serving(&mut ReqClient::connect(cmd_port), 1);
        service.stop();
    }

    #[test]
    fn a_subscriber_port_in_use_is_a_bind_error_from_start() {
        let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().unwrap().port();
        let mut opts = options();
        opts.subscriber_port = port;
        let service = ZeroMqRpcService::new(opts);
        match service.start() {
            Err(Error::Bind { endpoint, .. }) => {
                assert_eq!(endpoint, format!("tcp://127.0.0.1:{port}"));
            }
            other => panic!("expected Error::Bind, got {other:?}"),
        }
        assert!(!service.is_running());
    }

    #[test]
    fn bad_addresses_and_options_are_errors_from_start() {
        for address in ["256.0.0.1", "192.0.2.1", "no-such-interface-0"] {
            let mut opts = options();
            opts.bind_addresses = vec![address.to_owned()];
            let service = ZeroMqRpcService::new(opts);
            match service.start() {
                Err(Error::Bind { endpoint, .. }) => {
                    assert!(endpoint.contains(address), "{endpoint}");
                }
                other => panic!("{address}: expected Error::Bind, got {other:?}"),
            }
            assert!(!service.is_running());
        }

        let mut opts = options();
        opts.bind_addresses.clear();
        let result = ZeroMqRpcService::new(opts).start();
        assert!(
            matches!(result, Err(Error::InvalidOptions(_))),
            "{result:?}"
        );

        let mut opts = options();
        opts.heartbeat_interval = Duration::ZERO;
        let result = ZeroMqRpcService::new(opts).start();
        assert!(
            matches!(result, Err(Error::InvalidOptions(_))),
            "{result:?}"
        );
    }

    #[test]
    fn stop_is_idempotent_and_a_stopped_service_cannot_restart() {
        let service = ZeroMqRpcService::new(options());
        service.stop(); // never started: nothing to do
        assert!(matches!(
            service.publish_str(ApiTopic::Event, "{}"),
            Err(Error::NotRunning)
        ));

        service.start().expect("start");
        assert!(service.is_running());
        assert!(matches!(service.start(), Err(Error::AlreadyStarted)));
        let (pub_port, cmd_port) = (service.subscriber_port(), service.command_port());
        assert_ne!(pub_port, 0);
        assert_ne!(cmd_port, 0);

        service.stop();
        service.stop();
        assert!(!service.is_running());
        assert!(matches!(service.start(), Err(Error::AlreadyStarted)));
        assert!(matches!(
            service.publish_event(ApiEvent::new(ApiEventKind::ApplicationTerminating, None)),
            Err(Error::NotRunning)
        ));
        assert!(matches!(
            service.publish_command_result(ApiCommandRequestResponse::success()),
            Err(Error::NotRunning)
        ));
        // Both ports were released by stop.
        TcpListener::bind(("127.0.0.1", pub_port)).expect("PUB port released");
        TcpListener::bind(("127.0.0.1", cmd_port)).expect("REP port released");
    }

    #[test]
    fn stop_publishes_everything_accepted_before_it() {
        const N: i64 = 2000;
        let mut opts = options();
        // libzmq drops what exceeds a subscriber's high-water mark even on a
        // healthy local connection (about a fifth of a 2000-message burst with
        // the default 1000); keep this test about stop.
        opts.send_high_water_mark = 2 * N as i32;
        let service = started(opts);
        let sub = joined(&service, &[EVENT]);
        for i in 0..N {
            service
                .publish_event(event(ApiEventKind::TunnelEnter, i, None))
                .expect("accepted");
        }
        service.stop();
        for i in 0..N {
            let message = sub
                .recv_topic(EVENT, WAIT)
                .unwrap_or_else(|| panic!("event {i} of {N} was not published before stop"));
            assert_eq!(message.json()["index"], i);
        }
        let stats = service.stats();
        assert_eq!(stats.dropped, 0);
        assert_eq!(stats.queue_depth, 0);
        assert_eq!(stats.send_errors, 0);
    }

    #[test]
    fn dropping_a_running_service_stops_it_and_releases_its_ports() {
        let service = started(options());
        let (pub_port, cmd_port) = (service.subscriber_port(), service.command_port());
        drop(service);
        TcpListener::bind(("127.0.0.1", pub_port)).expect("PUB port released");
        TcpListener::bind(("127.0.0.1", cmd_port)).expect("REP port released");
    }
}

mod publishing {
    use super::*;

    #[derive(Serialize)]
    struct TrialSummary {
        trial_number: u32,
        animal_id: String,
        success_rate: f64,
        session_id: uuid::Uuid,
    }

    #[test]
    fn every_kind_of_message_is_a_topic_frame_then_the_body() {
        let service = started(options());
        let sub = joined(&service, &[]);

        let raw = vec![0, 159, 146, 150, b'x'];
        service
            .publish_bytes(ApiTopic::PropertyChange, raw.clone())
            .unwrap();
        service
            .publish_str(ApiTopic::Event, "héllo, world")
            .unwrap();
        service
            .publish_json(
                ApiTopic::PropertyChange,
                json!({
                    "app_status": "not acquiring",
                    "animal_id": "m-001",
                    "nonce": -5,
                    "display_name": "Mouse 42",
                    "data_path": "/data/My Files",
                    "nested_list": [{"inner_key": 1.5, "ID": "keep"}]
                }),
            )
            .unwrap();
        let session_id = uuid::Uuid::new_v4();
        service
            .publish(
                ApiTopic::PropertyChange,
                &TrialSummary {
                    trial_number: 3,
                    animal_id: "m-001".into(),
                    success_rate: 0.75,
                    session_id,
                },
            )
            .unwrap();
        service
            .publish_event(event(
                ApiEventKind::AcquisitionStarted,
                12345,
                Some(json!({"animal_id": "m1", "reason": "é"})),
            ))
            .unwrap();
        service
            .publish_command_result(
                ApiCommandRequestResponse::failed(3, "busy")
                    .with_data(&json!({"queue_len": 2}))
                    .for_request(ApiCommand::StartAcquisition, 77),
            )
            .unwrap();

        let expected = [
            frames(PROPERTY_CHANGE, &raw),
            frames(EVENT, "héllo, world".as_bytes()),
            frames(
                PROPERTY_CHANGE,
                br#"{"appStatus": "not acquiring", "animalId": "m-001", "nonce": -5, "displayName": "Mouse 42", "dataPath": "/data/My Files", "nestedList": [{"innerKey": 1.5, "ID": "keep"}]}"#,
            ),
            frames(
                PROPERTY_CHANGE,
                format!(
                    r#"{{"trialNumber": 3, "animalId": "m-001", "successRate": 0.75, "sessionId": "{session_id}"}}"#
                )
                .as_bytes(),
            ),
            frames(
                EVENT,
                br#"{"kind": 301, "when": 1700000000.5, "index": 12345, "context": {"animalId": "m1", "reason": "\u00e9"}}"#,
            ),
            frames(
                COMMAND_RESULT,
                br#"{"result": 400, "data": {"queueLen": 2}, "errorCode": 3, "errorMessage": "busy", "command": 100, "nonce": 77}"#,
            ),
        ];
        expect_exactly(&service, &sub, expected);
        service.stop();
    }

    #[test]
    fn emergency_events_go_out_on_emergency_first_then_on_event() {
        let service = started(options());
        let sub = joined(&service, &[]);

        let stop = event(
            ApiEventKind::EmergencyStop,
            1,
            Some(json!({"reason": "door open"})),
        );
        let resume = event(ApiEventKind::EmergencyResume, 2, None);
        service.publish_event(stop).unwrap();
        service.publish_event(resume).unwrap();
        // The same through publish_json on EVENT, as the reference's send_dict.
        let as_json = json!({"kind": 101, "when": 1.25, "index": 3, "context": {"by_user": "op"}});
        service
            .publish_json(ApiTopic::Event, as_json.clone())
            .unwrap();
        // Not emergencies: an ordinary kind, and kind 101 on another topic.
        service
            .publish_json(ApiTopic::Event, json!({"kind": 301, "index": 4}))
            .unwrap();
        service
            .publish_json(ApiTopic::PropertyChange, json!({"kind": 101}))
            .unwrap();
        service
            .publish_event(event(ApiEventKind::AcquisitionStarted, 5, None))
            .unwrap();

        let stop_body: &[u8] = br#"{"kind": 101, "when": 1700000000.5, "index": 1, "context": {"reason": "door open"}}"#;
        let resume_body: &[u8] =
            br#"{"kind": 102, "when": 1700000000.5, "index": 2, "context": null}"#;
        let json_body: &[u8] =
            br#"{"kind": 101, "when": 1.25, "index": 3, "context": {"byUser": "op"}}"#;
        let expected = [
            frames(EMERGENCY, stop_body),
            frames(EVENT, stop_body),
            frames(EMERGENCY, resume_body),
            frames(EVENT, resume_body),
            frames(EMERGENCY, json_body),
            frames(EVENT, json_body),
            frames(EVENT, br#"{"kind": 301, "index": 4}"#),
            frames(PROPERTY_CHANGE, br#"{"kind": 101}"#),
            frames(
                EVENT,
                br#"{"kind": 301, "when": 1700000000.5, "index": 5, "context": null}"#,
            ),
        ];
        expect_exactly(&service, &sub, expected);
        service.stop();
    }

    #[test]
    fn frames_never_interleave_with_concurrent_publishers_and_fast_heartbeats() {
        const THREADS: usize = 4;
        const PER_THREAD: usize = 1500;
        let mut opts = options();
        opts.heartbeat_interval = Duration::from_millis(1);
        opts.queue_capacity = 100_000;
        opts.send_high_water_mark = 0; // keep everything, so it can be counted
        opts.linger = Duration::from_secs(30);
        let service = started(opts);
        let sub = joined(&service, &[]);

        let sent: usize = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let service = &service;
                    scope.spawn(move || {
                        let mut sent = 0;
                        for i in 0..PER_THREAD {
                            let index = (t * PER_THREAD + i) as i64;
                            match i % 4 {
                                0 => service
                                    .publish_json(
                                        ApiTopic::Event,
                                        json!({"kind": 301, "thread_id": t, "i": i}),
                                    )
                                    .unwrap(),
                                1 => service
                                    .publish_bytes(
                                        ApiTopic::PropertyChange,
                                        json!({"thread": t, "i": i}).to_string().into_bytes(),
                                    )
                                    .unwrap(),
                                2 => {
                                    service
                                        .publish_event(event(
                                            ApiEventKind::EmergencyStop,
                                            index,
                                            Some(json!({"thread_id": t})),
                                        ))
                                        .unwrap();
                                    sent += 1; // the EMERGENCY copy
                                }
                                _ => service
                                    .publish_command_result(
                                        ApiCommandRequestResponse::success()
                                            .for_request(ApiCommand::None, index),
                                    )
                                    .unwrap(),
                            }
                            sent += 1;
                        }
                        sent
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        // Read while the service still serves: heartbeats stop with the
        // command loop, which `stop()` ends before draining the queue.
        let valid_topics = [HEARTBEAT, EMERGENCY, EVENT, PROPERTY_CHANGE, COMMAND_RESULT];
        let (mut app_messages, mut heartbeats) = (0, 0);
        while app_messages < sent {
            let message = sub
                .recv(WAIT)
                .unwrap_or_else(|| panic!("only {app_messages} of {sent} messages arrived"));
            assert_eq!(message.frames.len(), 2, "{message:?}");
            let topic = message.topic().expect("a 4-byte topic frame");
            assert!(valid_topics.contains(&topic), "topic {topic}");
            let body: Value = serde_json::from_slice(message.body())
                .unwrap_or_else(|e| panic!("garbled body ({e}): {:?}", message.body_str()));
            assert!(body.is_object(), "{body}");
            if topic == HEARTBEAT {
                assert_eq!(keys(&body), ["identifier", "version", "timestamp"]);
                heartbeats += 1;
            } else {
                app_messages += 1;
            }
        }
        assert_eq!(app_messages, sent);
        assert!(heartbeats > 0, "no heartbeat was interleaved");
        service.stop();
        let stats = service.stats();
        assert_eq!(stats.dropped, 0);
        assert_eq!(stats.send_errors, 0);
    }
}

mod overflow {
    use super::*;

    /// A burst as the issue measured it: 100,000 events of about 150 bytes,
    /// published as fast as the caller can, with the default limits.
    #[test]
    fn the_default_queue_absorbs_a_burst_of_100_000_events() {
        let service = started(options());
        let context = json!({"animal_id": "m-001", "reach": 17, "note": "x".repeat(60)});
        for index in 0..100_000 {
            service
                .publish_event(event(
                    ApiEventKind::PelletSeen,
                    index,
                    Some(context.clone()),
                ))
                .unwrap_or_else(|e| panic!("event {index} refused: {e}"));
        }
        let stats = service.stats();
        assert_eq!((stats.accepted, stats.dropped), (100_000, 0));
        assert!(stats.queue_bytes <= RpcOptions::default().queue_capacity_bytes);
        service.stop();
        assert_eq!(service.stats().queue_bytes, 0, "all sent, nothing counted");
    }

    #[test]
    fn the_byte_limit_drops_large_ordinary_messages_but_not_critical_ones() {
        let mut opts = options();
        opts.queue_capacity_bytes = 1024 * 1024;
        let service = started(opts);
        let large = "x".repeat(2 * 1024 * 1024);
        assert!(matches!(
            service.publish_bytes(ApiTopic::Event, large.clone().into_bytes()),
            Err(Error::QueueFull {
                topic: ApiTopic::Event
            })
        ));
        assert!(matches!(
            service.publish_json(ApiTopic::PropertyChange, json!({ "blob": large })),
            Err(Error::QueueFull {
                topic: ApiTopic::PropertyChange
            })
        ));
        assert_eq!(service.stats().dropped, 2);
        // A command result of the same size is critical: it is not dropped.
        let critical = ApiCommandRequestResponse::success()
            .with_data(&large)
            .for_request(ApiCommand::None, 1);
        service
            .publish_command_result(critical)
            .expect("critical passes");
        // Once the publisher sent it, the bytes are free again.
        wait_for_stats(&service, "the queue drained", |s| s.queue_bytes == 0);
        assert!(service
            .publish_bytes(ApiTopic::Event, b"{}".to_vec())
            .is_ok());
    }

    #[test]
    fn a_full_queue_drops_new_ordinary_messages_and_counts_them_while_critical_ones_use_the_reserve(
    ) {
        let mut opts = options();
        opts.queue_capacity = 4;
        opts.critical_reserve = 4;
        opts.send_high_water_mark = 0;
        opts.linger = Duration::from_secs(30);
        let service = started(opts);
        let sub = joined(&service, &[EVENT, COMMAND_RESULT]);
        let before = service.stats();

        let (mut attempts, mut accepted, mut dropped) = (0u64, 0u64, 0u64);
        let (mut critical_ok, mut critical_refused) = (Vec::new(), 0u64);
        let started_at = Instant::now();
        // Flood faster than the publisher drains; now and then, while
        // ordinary messages are being refused, publish a critical one. Until
        // the queue has overflowed a while and the reserve took a critical
        // message, however fast this machine is (bounded by a deadline).
        let mut next_critical = started_at;
        let deadline = started_at + 10 * WAIT;
        while dropped < 1_000 || critical_ok.is_empty() {
            assert!(
                Instant::now() < deadline,
                "after {attempts} attempts: {dropped} dropped, {} critical accepted",
                critical_ok.len()
            );
            attempts += 1;
            match service.publish_bytes(ApiTopic::Event, b"{}".to_vec()) {
                Ok(()) => accepted += 1,
                Err(Error::QueueFull { topic }) => {
                    assert_eq!(topic, ApiTopic::Event);
                    dropped += 1;
                    if Instant::now() < next_critical {
                        continue;
                    }
                    next_critical += Duration::from_millis(1);
                    // No room for ordinary messages right now; a critical one
                    // still gets in through the reserve.
                    let nonce = (critical_ok.len() as u64 + critical_refused) as i64;
                    match service.publish_command_result(
                        ApiCommandRequestResponse::success().for_request(ApiCommand::None, nonce),
                    ) {
                        Ok(()) => critical_ok.push(nonce),
                        Err(Error::QueueFull { .. }) => critical_refused += 1,
                        Err(other) => panic!("{other:?}"),
                    }
                }
                Err(other) => panic!("{other:?}"),
            }
        }
        let elapsed = started_at.elapsed();
        assert!(
            dropped > 0,
            "the queue never overflowed in {attempts} attempts"
        );
        assert!(
            !critical_ok.is_empty(),
            "no critical message used the reserve"
        );

        let stats = service.stats();
        assert_eq!(stats.queue_capacity, 4);
        assert_eq!(stats.dropped - before.dropped, dropped);
        assert_eq!(
            stats.rejected_critical - before.rejected_critical,
            critical_refused
        );
        assert_eq!(
            stats.accepted - before.accepted,
            accepted + critical_ok.len() as u64
        );
        assert_eq!(accepted + dropped, attempts);

        // A fence behind everything accepted (retried while the queue is
        // still full), then stop, which flushes.
        let fence = json!({"fence": "after the flood"});
        while let Err(Error::QueueFull { .. }) =
            service.publish_json(ApiTopic::Event, fence.clone())
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Every accepted message is published: the ordinary ones and every
        // critical one that was not refused to its caller, then the fence.
        service.stop();
        let (mut ordinary_seen, mut critical_seen) = (0u64, Vec::new());
        while ordinary_seen < accepted || critical_seen.len() < critical_ok.len() {
            let message = sub.recv(WAIT).unwrap_or_else(|| {
                panic!(
                    "missing: {ordinary_seen}/{accepted} ordinary, {}/{} critical",
                    critical_seen.len(),
                    critical_ok.len()
                )
            });
            match message.topic() {
                Some(EVENT) => ordinary_seen += 1,
                Some(COMMAND_RESULT) => {
                    critical_seen.push(message.json()["nonce"].as_i64().unwrap())
                }
                other => panic!("unexpected topic {other:?}"),
            }
        }
        assert_eq!(critical_seen, critical_ok);
        let next = sub.recv(WAIT).expect("the fence");
        assert_eq!(next.json(), fence, "a message came before the fence");
        eprintln!(
            "overflow: {attempts} attempts in {elapsed:?}: {accepted} accepted, {dropped} dropped; \
             {} critical accepted, {critical_refused} refused",
            critical_ok.len()
        );
    }

    /// Several threads publish at once into a tiny queue, ordinary and
    /// critical messages mixed: every call is accounted for exactly once in
    /// the stats, every accepted message arrives exactly once, and nothing
    /// refused arrives.
    #[test]
    fn concurrent_publishers_share_the_queue_and_the_reserve_without_loss_or_double_counting() {
        const THREADS: i64 = 4;
        const CALLS: i64 = 5_000;
        let mut opts = options();
        opts.queue_capacity = 4;
        opts.critical_reserve = 4;
        opts.linger = Duration::from_secs(30);
        let service = started(opts);
        let sub = joined(&service, &[EVENT, COMMAND_RESULT]);
        let before = service.stats();

        let outcomes: Vec<(u64, u64, Vec<i64>, u64)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..THREADS)
                .map(|thread| {
                    let publisher = service.publisher().clone();
                    scope.spawn(move || {
                        let (mut ordinary_ok, mut ordinary_dropped) = (0, 0);
                        let (mut critical_ok, mut critical_refused) = (Vec::new(), 0);
                        for call in 0..CALLS {
                            if call % 10 == 0 {
                                let nonce = thread * CALLS + call;
                                let result = ApiCommandRequestResponse::success()
                                    .for_request(ApiCommand::None, nonce);
                                match publisher.publish_command_result(result) {
                                    Ok(()) => critical_ok.push(nonce),
                                    Err(Error::QueueFull { .. }) => critical_refused += 1,
                                    Err(other) => panic!("{other:?}"),
                                }
                            } else {
                                match publisher.publish_bytes(ApiTopic::Event, b"{}".to_vec()) {
                                    Ok(()) => ordinary_ok += 1,
                                    Err(Error::QueueFull { .. }) => ordinary_dropped += 1,
                                    Err(other) => panic!("{other:?}"),
                                }
                            }
                        }
                        (ordinary_ok, ordinary_dropped, critical_ok, critical_refused)
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let ordinary_ok: u64 = outcomes.iter().map(|o| o.0).sum();
        let ordinary_dropped: u64 = outcomes.iter().map(|o| o.1).sum();
        let mut critical_ok: Vec<i64> = outcomes.iter().flat_map(|o| o.2.clone()).collect();
        let critical_refused: u64 = outcomes.iter().map(|o| o.3).sum();
        let stats = service.stats();
        assert_eq!(
            stats.accepted - before.accepted,
            ordinary_ok + critical_ok.len() as u64
        );
        assert_eq!(stats.dropped - before.dropped, ordinary_dropped);
        assert_eq!(
            stats.rejected_critical - before.rejected_critical,
            critical_refused
        );
        assert_eq!(
            ordinary_ok + ordinary_dropped + critical_ok.len() as u64 + critical_refused,
            (THREADS * CALLS) as u64
        );

        let fence = json!({"fence": "after the threads"});
        while let Err(Error::QueueFull { .. }) =
            service.publish_json(ApiTopic::Event, fence.clone())
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        service.stop();
        let (mut ordinary_seen, mut critical_seen) = (0u64, Vec::new());
        loop {
            let message = next(&sub);
            match message.topic() {
                Some(EVENT) if message.json() == fence => break,
                Some(EVENT) => ordinary_seen += 1,
                Some(COMMAND_RESULT) => {
                    critical_seen.push(message.json()["nonce"].as_i64().unwrap())
                }
                other => panic!("unexpected topic {other:?}"),
            }
        }
        critical_ok.sort_unstable();
        critical_seen.sort_unstable();
        assert_eq!(ordinary_seen, ordinary_ok);
        assert_eq!(
            critical_seen, critical_ok,
            "each accepted result once, no other"
        );
        eprintln!(
            "{THREADS} threads: ordinary {ordinary_ok} accepted, {ordinary_dropped} dropped; \
             critical {} accepted, {critical_refused} refused",
            critical_ok.len()
        );
    }

    #[test]
    fn a_critical_message_is_refused_to_its_caller_only_when_the_reserve_is_full_too() {
        let mut opts = options();
        opts.queue_capacity = 1;
        opts.critical_reserve = 1;
        opts.send_high_water_mark = 0;
        opts.linger = Duration::from_secs(30);
        let service = started(opts);
        let sub = joined(&service, &[COMMAND_RESULT]);

        let (mut ok, mut refused) = (Vec::new(), 0u64);
        let mut nonce = 0i64;
        while refused < 50 && nonce < 200_000 {
            match service.publish_command_result(
                ApiCommandRequestResponse::success().for_request(ApiCommand::None, nonce),
            ) {
                Ok(()) => ok.push(nonce),
                Err(Error::QueueFull { topic }) => {
                    assert_eq!(topic, ApiTopic::CommandResult);
                    refused += 1;
                }
                Err(other) => panic!("{other:?}"),
            }
            nonce += 1;
        }
        assert!(refused > 0, "the reserve never filled in {nonce} attempts");
        let stats = service.stats();
        assert_eq!(stats.rejected_critical, refused);
        assert_eq!(stats.dropped, 0);
        assert_eq!(ok.len() as u64 + refused, nonce as u64);

        // Nothing critical is lost silently: what was accepted arrives.
        service.stop();
        let mut seen = Vec::new();
        while seen.len() < ok.len() {
            let message = sub
                .recv(WAIT)
                .unwrap_or_else(|| panic!("only {} of {} results arrived", seen.len(), ok.len()));
            seen.push(message.json()["nonce"].as_i64().unwrap());
        }
        assert_eq!(seen, ok);
    }
}

mod heartbeat {
    use super::*;

    #[test]
    fn heartbeats_carry_identifier_version_and_timestamp_every_interval_until_stop() {
        let mut opts = options();
        opts.identifier = "rig-7 (bench)".into();
        opts.heartbeat_interval = Duration::from_millis(100);
        let service = started(opts);
        // Heartbeats are their own join probe: the first ones may be missed.
        let sub = SubCollector::connect(service.subscriber_port(), &[HEARTBEAT]);

        let mut timestamps = Vec::new();
        for _ in 0..8 {
            let message = sub
                .recv_topic(HEARTBEAT, WAIT)
                .expect("a heartbeat within 5 s");
            assert_eq!(message.frames.len(), 2);
            let text = message.body_str();
            let prefix = format!(
                r#"{{"identifier": "rig-7 (bench)", "version": "0.9.11+rust.{}", "timestamp": "#,
                env!("CARGO_PKG_VERSION")
            );
            assert!(text.starts_with(&prefix), "{text}");
            let body = message.json();
            assert_eq!(keys(&body), ["identifier", "version", "timestamp"]);
            assert_eq!(body["version"], Generation::V0_9.heartbeat_version());
            let timestamp = body["timestamp"].as_f64().expect("a float timestamp");
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            assert!((now - timestamp).abs() < 60.0, "{timestamp} vs {now}");
            timestamps.push(timestamp);
        }
        let gaps: Vec<f64> = timestamps.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!(gaps.iter().all(|&gap| gap > 0.0), "{gaps:?}");
        // The spacing is printed, not asserted: a loaded machine stretches it.
        eprintln!(
            "heartbeat interval 100 ms: measured mean {:.1} ms",
            mean * 1000.0
        );

        service.stop();
        let sent = service.stats().heartbeats_sent;
        assert!(sent >= 8);
        // What was in flight arrives; then nothing more.
        sub.drain_for(Duration::from_millis(200));
        assert!(sub
            .recv_topic(HEARTBEAT, Duration::from_millis(500))
            .is_none());
        assert_eq!(service.stats().heartbeats_sent, sent);
    }

    #[test]
    fn heartbeats_are_withheld_while_a_delegate_blocks_and_resume_after() {
        let mut opts = options();
        opts.heartbeat_interval = Duration::from_millis(20);
        opts.command_stall_limit = Duration::from_millis(60);
        let service = started(opts);
        let (release, released) = mpsc::channel::<()>();
        let released = Mutex::new(released);
        service.set_delegate(move |_: ApiCommandRequest, _: &RequestContext| {
            let _ = released.lock().unwrap().recv();
            ApiCommandRequestResponse::success()
        });
        wait_for_stats(&service, "heartbeats before the stall", |s| {
            s.heartbeats_sent >= 2
        });

        let port = service.command_port();
        let asker = std::thread::spawn(move || {
            ReqClient::connect(port).request_json(&json!({"command": 0, "nonce": 5}))
        });
        wait_for_stats(&service, "a heartbeat withheld", |s| {
            s.heartbeats_withheld >= 1
        });
        let sent = service.stats().heartbeats_sent;
        wait_for_stats(&service, "more heartbeats withheld", |s| {
            s.heartbeats_withheld >= 4
        });
        assert_eq!(
            service.stats().heartbeats_sent,
            sent,
            "no heartbeat while stuck"
        );

        release.send(()).unwrap();
        let reply = asker.join().unwrap();
        assert_eq!(
            (reply["nonce"].as_i64(), reply["result"].as_i64()),
            (Some(5), Some(100))
        );
        wait_for_stats(&service, "heartbeats resumed", |s| s.heartbeats_sent > sent);
    }
}

mod requests {
    use super::*;

    #[test]
    fn every_malformed_request_gets_one_error_reply_and_the_service_keeps_serving() {
        let mut opts = options();
        opts.max_request_bytes = 4096;
        let service = started(opts);
        let (delegate, seen) = recording_delegate();
        service.set_delegate(delegate);
        let mut req = ReqClient::connect(service.command_port());

        let oversized = format!(
            r#"{{"command": 400, "nonce": 9, "data": "{}"}}"#,
            "x".repeat(6000)
        );
        let cases: Vec<(&str, Vec<Vec<u8>>, i64, &str)> = vec![
            (
                "non-JSON",
                vec![b"hello there".to_vec()],
                0,
                "not valid JSON",
            ),
            (
                "invalid UTF-8",
                vec![vec![0xff, 0xfe, b'{', b'}']],
                0,
                "not valid UTF-8",
            ),
            ("empty frame", vec![Vec::new()], 0, "empty request frame"),
            (
                "JSON array",
                vec![b"[400, 1]".to_vec()],
                0,
                "must be a JSON object",
            ),
            (
                "JSON number",
                vec![b"400".to_vec()],
                0,
                "must be a JSON object",
            ),
            (
                "no command",
                vec![br#"{"nonce": 17, "data": null}"#.to_vec()],
                17,
                "no 'command'",
            ),
            (
                "string command",
                vec![br#"{"command": "GET_STATUS", "nonce": 18}"#.to_vec()],
                18,
                "'command' must be an integer",
            ),
            (
                "float command",
                vec![br#"{"command": 400.5, "nonce": 19}"#.to_vec()],
                19,
                "'command' must be an integer",
            ),
            (
                "string nonce",
                vec![br#"{"command": 400, "nonce": "abc"}"#.to_vec()],
                0,
                "'nonce' must be an integer",
            ),
            (
                "multipart",
                vec![
                    br#"{"command": 400}"#.to_vec(),
                    br#"{"command": 400}"#.to_vec(),
                ],
                0,
                "one frame, got 2",
            ),
            (
                "oversized",
                vec![oversized.into_bytes()],
                0,
                "exceeds the maximum of 4096 bytes",
            ),
        ];
        for (i, (name, request, nonce, message)) in cases.iter().enumerate() {
            let parts: Vec<&[u8]> = request.iter().map(Vec::as_slice).collect();
            let reply = req
                .try_request_frames(&parts)
                .unwrap_or_else(|| panic!("{name}: no reply"));
            assert_eq!(reply.len(), 1, "{name}: one reply frame");
            let reply = parse_json(&reply[0]);
            assert_eq!(keys(&reply), REPLY_KEYS, "{name}: {reply}");
            assert_eq!(reply["result"], 0, "{name}: {reply}");
            assert_eq!(reply["errorKind"], 1, "{name}: {reply}");
            assert_eq!(reply["errorCode"], 0, "{name}: {reply}");
            assert_eq!(reply["data"], Value::Null, "{name}: {reply}");
            assert_eq!(reply["nonce"], *nonce, "{name}: {reply}");
            let text = reply["errorMessage"].as_str().unwrap_or_default();
            assert!(text.contains(message), "{name}: {text:?}");

            let ok_nonce = 1000 + i as i64;
            assert_serving(&mut req, ok_nonce);
            let request = seen.recv_timeout(WAIT).expect("the delegate saw it");
            assert_eq!(
                request.nonce, ok_nonce,
                "{name}: the delegate saw a malformed request"
            );
        }
        let stats = service.stats();
        assert_eq!(stats.malformed_requests, cases.len() as u64);
        assert_eq!(stats.requests, 2 * cases.len() as u64);
        service.stop();
    }

    /// Requests over 16 KiB are read on the service's reader thread; they
    /// must reach the delegate and be refused exactly as small ones are.
    #[test]
    fn large_requests_are_read_like_small_ones() {
        let service = started(options());
        let (delegate, seen) = recording_delegate();
        service.set_delegate(delegate);
        let mut req = ReqClient::connect(service.command_port());

        let data: serde_json::Map<String, Value> = (0..5000)
            .map(|i| (format!("sensorReading{i}"), json!(i)))
            .collect();
        let request = json!({"command": 99999, "nonce": 31, "customCommand": 2, "data": data});
        assert!(serde_json::to_vec(&request).unwrap().len() > 64 * 1024);
        let reply = req.request_json(&request);
        assert_eq!(
            (&reply["nonce"], &reply["result"]),
            (&json!(31), &json!(100))
        );
        let seen_request = seen.recv_timeout(WAIT).expect("the delegate saw it");
        let seen_data = seen_request
            .data
            .expect("data")
            .as_object()
            .cloned()
            .unwrap();
        assert_eq!(seen_data.len(), 5000);
        assert_eq!(seen_data["sensor_reading4999"], 4999);

        let max = RpcOptions::loopback().max_request_bytes;
        let oversized = format!(
            r#"{{"command": 400, "nonce": 32, "data": "{}"}}"#,
            "x".repeat(max)
        );
        let reply = parse_json(&req.request(oversized.as_bytes()));
        assert_eq!(
            (&reply["result"], &reply["errorKind"]),
            (&json!(0), &json!(1)),
            "{reply}"
        );
        let message = format!("exceeds the maximum of {max} bytes");
        assert!(
            reply["errorMessage"].as_str().unwrap().contains(&message),
            "{reply}"
        );

        let garbage = format!(
            r#"{{"command": 400, "nonce": 33, "data": "{}"#,
            "y".repeat(20_000)
        );
        let reply = parse_json(&req.request(garbage.as_bytes()));
        assert!(
            reply["errorMessage"]
                .as_str()
                .unwrap()
                .contains("not valid JSON"),
            "{reply}"
        );

        assert_serving(&mut req, 34);
        let stats = service.stats();
        assert_eq!((stats.requests, stats.malformed_requests), (4, 2));
        service.stop();
    }

    /// One DEALER peer pipelines a large request, a small one and an
    /// emergency stop: each gets one reply; the small one waits for the
    /// large one ahead of it (order is kept), the emergency need not.
    #[test]
    fn requests_keep_their_order_around_a_large_one_and_each_gets_one_reply() {
        let service = started(options());
        let (delegate, seen) = recording_delegate();
        service.set_delegate(delegate);
        let context = zmq::Context::new();
        let dealer = context.socket(zmq::DEALER).unwrap();
        dealer.set_linger(0).unwrap();
        dealer.set_rcvtimeo(5000).unwrap();
        dealer
            .connect(&format!("tcp://127.0.0.1:{}", service.command_port()))
            .unwrap();

        let large = json!({"command": 300, "nonce": 1, "data": {"padding": "z".repeat(100_000)}});
        let requests = [
            serde_json::to_vec(&large).unwrap(),
            br#"{"command": 400, "nonce": 2}"#.to_vec(),
            br#"{"command": 200, "nonce": 3}"#.to_vec(),
        ];
        for request in &requests {
            dealer.send_multipart([&b""[..], &request[..]], 0).unwrap();
        }
        let mut answered = Vec::new();
        for _ in 0..requests.len() {
            let frames = dealer.recv_multipart(0).expect("a reply");
            assert_eq!(frames.len(), 2, "delimiter and reply");
            let reply = parse_json(&frames[1]);
            assert_eq!(reply["result"], 100, "{reply}");
            answered.push(reply["nonce"].as_i64().unwrap());
        }
        let in_order: Vec<i64> = answered.iter().copied().filter(|&n| n != 3).collect();
        assert_eq!(in_order, [1, 2], "answered in the order {answered:?}");
        // A fourth request: its reply comes next, so no second reply was on its way.
        dealer
            .send_multipart([&b""[..], &br#"{"command": 0, "nonce": 4}"#[..]], 0)
            .unwrap();
        let fence = dealer.recv_multipart(0).expect("the fourth reply");
        assert_eq!(parse_json(&fence[1])["nonce"], 4, "a second reply came");
        let delegate_saw: Vec<i64> = (0..4)
            .map(|_| seen.recv_timeout(WAIT).unwrap().nonce)
            .collect();
        assert_eq!(delegate_saw[..3], answered);
        service.stop();
    }

    #[test]
    fn an_uppercase_unicode_escape_is_valid_json_and_reaches_the_delegate_decoded() {
        let service = started(options());
        let (delegate, seen) = recording_delegate();
        service.set_delegate(delegate);
        let mut req = ReqClient::connect(service.command_port());

        let reply = req.request(
            br#"{"command": 99999, "nonce": 21, "customCommand": 5, "data": {"petName": "caf\u00E9 \u00C9T\u00C9"}}"#,
        );
        let request = seen.recv_timeout(WAIT).expect("the delegate saw it");
        assert_eq!(request.command, ApiCommand::UserDefined);
        assert_eq!(request.custom_command, 5);
        assert_eq!(request.data, Some(json!({"pet_name": "café ÉTÉ"})));
        assert_eq!(
            String::from_utf8(reply).unwrap(),
            r#"{"nonce":21,"command":99999,"result":100,"data":{"petName":"caf\u00e9 \u00c9T\u00c9"},"errorKind":0,"errorCode":0,"errorMessage":null}"#
        );
        service.stop();
    }

    #[test]
    fn a_frame_beyond_the_hard_limit_closes_that_connection_and_others_are_served() {
        let mut opts = options();
        opts.max_request_bytes = 1024;
        let service = started(opts);
        service.set_delegate(|_: ApiCommandRequest, _: &RequestContext| {
            ApiCommandRequestResponse::success()
        });
        let port = service.command_port();

        let huge = vec![b' '; 1024 * auto_trainer_api::REQUEST_HARD_LIMIT_FACTOR + 1];
        let mut victim = ReqClient::with_timeout(port, Duration::from_millis(500));
        assert!(
            victim.try_request(&huge).is_none(),
            "libzmq drops the connection before the frame is read"
        );
        assert_serving(&mut ReqClient::connect(port), 2);
        // The dropped client reconnects (a new socket) and is served too.
        assert_serving(&mut victim, 3);
        service.stop();
    }

    #[test]
    fn keys_are_converted_values_are_not_and_the_reply_has_the_reference_shape() {
        let service = started(options());
        let (tx, seen) = mpsc::channel();
        let tx = Mutex::new(tx);
        service.set_delegate(move |request: ApiCommandRequest, _: &RequestContext| {
            let _ = tx.lock().unwrap().send(request);
            ApiCommandRequestResponse::success().with_data(&json!({
                "app_status": "not acquiring",
                "animal_id": "m-001",
                "display_name": "Mouse 42"
            }))
        });
        let mut req = ReqClient::connect(service.command_port());

        let reply = req.request(
            br#"{"command": 99999, "nonce": -5, "customCommand": 7, "data": {"animalId": "Mouse 42", "dataPath": "/data/My Files", "innerList": [{"deepKey": "m-001"}]}}"#,
        );
        assert_eq!(
            String::from_utf8(reply).unwrap(),
            r#"{"nonce":-5,"command":99999,"result":100,"data":{"appStatus":"not acquiring","animalId":"m-001","displayName":"Mouse 42"},"errorKind":0,"errorCode":0,"errorMessage":null}"#
        );
        let request = seen.recv_timeout(WAIT).unwrap();
        assert_eq!(request.nonce, -5);
        assert_eq!(request.custom_command, 7);
        assert_eq!(
            request.data,
            Some(json!({
                "animal_id": "Mouse 42",
                "data_path": "/data/My Files",
                "inner_list": [{"deep_key": "m-001"}]
            }))
        );

        // Defaults: nonce 0, no data, customCommand -1.
        req.request(br#"{"command": 0}"#);
        let request = seen.recv_timeout(WAIT).unwrap();
        assert_eq!(
            (request.command, request.nonce, request.custom_command),
            (ApiCommand::None, 0, -1)
        );
        assert_eq!(request.data, None);
        service.stop();
    }

    #[test]
    fn an_unknown_command_reaches_the_delegate_and_is_echoed_as_sent() {
        let service = started(options());
        let (delegate, seen) = recording_delegate();
        service.set_delegate(delegate);
        let mut req = ReqClient::connect(service.command_port());

        let reply = req.request_json(&json!({"command": 12345, "nonce": 5}));
        assert_eq!(reply["command"], 12345, "{reply}");
        assert_eq!(reply["nonce"], 5, "{reply}");
        assert_eq!(reply["result"], 100, "{reply}");
        let request = seen.recv_timeout(WAIT).unwrap();
        assert_eq!(request.command, ApiCommand::Unknown(12345));
        service.stop();
    }

    #[test]
    fn results_errors_panics_and_unserializable_data_get_the_reference_replies() {
        let service = started(options());
        service.set_delegate(|request: ApiCommandRequest, _: &RequestContext| {
            match request.command {
                ApiCommand::StopAcquisition => ApiCommandRequestResponse::failed(3, "busy"),
                ApiCommand::EmergencyStop => panic!("boom"),
                ApiCommand::EmergencyResume => panic!("formatted {}", request.nonce),
                ApiCommand::GetConfiguration => {
                    let mut bad: BTreeMap<(i32, i32), i32> = BTreeMap::new();
                    bad.insert((1, 2), 3);
                    ApiCommandRequestResponse::success().with_data(&bad)
                }
                ApiCommand::StartAcquisition => {
                    let mut bad: BTreeMap<Vec<u8>, i32> = BTreeMap::new();
                    bad.insert(vec![1], 3);
                    ApiCommandRequestResponse::failed(7, "mine").with_data(&bad)
                }
                _ => ApiCommandRequestResponse::success().with_data(&json!({
                    "app_status": 0, "training_mode": 100, "animal_id": "m1"
                })),
            }
        });
        let mut req = ReqClient::connect(service.command_port());
        let cases = [
            (
                json!({"command": 400, "nonce": 7}),
                r#"{"nonce":7,"command":400,"result":100,"data":{"appStatus":0,"trainingMode":100,"animalId":"m1"},"errorKind":0,"errorCode":0,"errorMessage":null}"#.to_owned(),
            ),
            (
                json!({"command": 110, "nonce": 8}),
                r#"{"nonce":8,"command":110,"result":400,"data":null,"errorKind":2,"errorCode":3,"errorMessage":"busy"}"#.to_owned(),
            ),
            (
                json!({"command": 200, "nonce": 9}),
                r#"{"nonce":9,"command":200,"result":500,"data":null,"errorKind":0,"errorCode":0,"errorMessage":"boom"}"#.to_owned(),
            ),
            (
                json!({"command": 210, "nonce": 10}),
                r#"{"nonce":10,"command":210,"result":500,"data":null,"errorKind":0,"errorCode":0,"errorMessage":"formatted 10"}"#.to_owned(),
            ),
            (
                json!({"command": 300, "nonce": 11}),
                format!(r#"{{"nonce":11,"command":300,"result":100,"data":null,"errorKind":1,"errorCode":0,"errorMessage":"{DATA_SERIALIZATION_ERROR}"}}"#),
            ),
            (
                json!({"command": 100, "nonce": 12}),
                format!(r#"{{"nonce":12,"command":100,"result":400,"data":null,"errorKind":1,"errorCode":0,"errorMessage":"{DATA_SERIALIZATION_ERROR}"}}"#),
            ),
        ];
        for (request, want) in cases {
            let reply = req.request(request.to_string().as_bytes());
            assert_eq!(String::from_utf8(reply).unwrap(), want);
            // The service goes on after each.
            assert_serving(&mut req, 99);
        }
        service.stop();
    }

    #[test]
    fn a_panic_payload_that_panics_when_dropped_does_not_kill_the_command_loop() {
        struct PanicsOnDrop;
        impl Drop for PanicsOnDrop {
            fn drop(&mut self) {
                panic!("the payload's drop panicked too");
            }
        }
        let mut opts = options();
        opts.heartbeat_interval = Duration::from_millis(50);
        let service = started(opts);
        service.set_delegate(|request: ApiCommandRequest, _: &RequestContext| {
            if request.command == ApiCommand::EmergencyStop {
                std::panic::panic_any(PanicsOnDrop);
            }
            ApiCommandRequestResponse::success()
        });
        let sub = SubCollector::connect(service.subscriber_port(), &[HEARTBEAT]);
        sub.recv_topic(HEARTBEAT, WAIT).expect("heartbeats flow");
        let mut req = ReqClient::connect(service.command_port());

        let reply = req.request_json(&json!({"command": 200, "nonce": 4}));
        assert_eq!(reply["result"], 500, "{reply}");
        assert_eq!(reply["nonce"], 4, "{reply}");
        assert_serving(&mut req, 5);
        sub.drain_for(Duration::from_millis(100));
        sub.recv_topic(HEARTBEAT, WAIT)
            .expect("heartbeats still flow");
        service.stop();
    }

    #[test]
    fn without_a_delegate_requests_are_answered_unavailable() {
        let service = started(options());
        let mut req = ReqClient::connect(service.command_port());
        let reply = req.request(br#"{"command": 400, "nonce": 31}"#);
        assert_eq!(
            String::from_utf8(reply).unwrap(),
            r#"{"nonce":31,"command":400,"result":9999,"data":null,"errorKind":0,"errorCode":0,"errorMessage":null}"#
        );
        service.stop();
    }

    #[test]
    fn the_delegate_can_be_set_replaced_and_cleared_while_running() {
        let service = started(options());
        let mut req = ReqClient::connect(service.command_port());
        let mut ask = |nonce: i64| {
            let reply = req.request_json(&json!({"command": 400, "nonce": nonce}));
            (reply["result"].as_i64().unwrap(), reply["data"].clone())
        };
        assert_eq!(ask(1), (9999, Value::Null));
        service.set_delegate(|_: ApiCommandRequest, _: &RequestContext| {
            ApiCommandRequestResponse::success().with_data("first")
        });
        assert_eq!(ask(2), (100, json!("first")));
        service.set_delegate(|_: ApiCommandRequest, _: &RequestContext| {
            ApiCommandRequestResponse::failed(1, "second")
        });
        assert_eq!(ask(3), (400, Value::Null));
        service.set_command_request_delegate(Some(Arc::new(
            // A delegate of bare numbers, as the service calls it.
            |_: ApiCommandRequest<i64>, _: &RequestContext| {
                ApiCommandRequestResponse::success().with_data("third")
            },
        )));
        assert_eq!(ask(4), (100, json!("third")));
        service.set_command_request_delegate(None);
        assert_eq!(ask(5), (9999, Value::Null));
        service.stop();
    }

    /// 200 sequential requests are each answered; their speed is printed (the
    /// benchmark, section 1, is where it is measured).
    #[test]
    fn sequential_round_trips_are_served() {
        const ROUND_TRIPS: u32 = 200;
        let service = started(options());
        service.set_delegate(|_: ApiCommandRequest, _: &RequestContext| {
            ApiCommandRequestResponse::success()
        });
        let mut req = ReqClient::connect(service.command_port());
        assert_serving(&mut req, 0);

        let started_at = Instant::now();
        for nonce in 1..=ROUND_TRIPS {
            assert_serving(&mut req, i64::from(nonce));
        }
        let elapsed = started_at.elapsed();
        // The reference polls every 50 ms: 200 round trips take about 10 s.
        eprintln!(
            "{ROUND_TRIPS} sequential round trips: {elapsed:?} ({:?} each)",
            elapsed / ROUND_TRIPS
        );
        service.stop();
    }

    #[test]
    fn several_clients_are_each_answered() {
        let service = started(options());
        service.set_delegate(|request: ApiCommandRequest, _: &RequestContext| {
            ApiCommandRequestResponse::success().with_data(&request.nonce)
        });
        let port = service.command_port();
        std::thread::scope(|scope| {
            for client in 0..4i64 {
                scope.spawn(move || {
                    let mut req = ReqClient::connect(port);
                    for i in 0..50 {
                        let nonce = client * 1000 + i;
                        let reply = req.request_json(&json!({"command": 0, "nonce": nonce}));
                        assert_eq!(reply["nonce"], nonce);
                        assert_eq!(reply["data"], nonce);
                    }
                });
            }
        });
        assert_eq!(service.stats().requests, 200);
        service.stop();
    }
}

mod pending {
    use super::*;

    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

    /// A delegate that accepts START_ACQUISITION as pending and hands the
    /// completion handle to the test.
    fn accepting_delegate(
        handles: Sender<CompletionHandle>,
    ) -> impl Fn(ApiCommandRequest, &RequestContext) -> ApiCommandRequestResponse {
        let handles = Mutex::new(handles);
        move |request: ApiCommandRequest, context: &RequestContext| match request.command {
            ApiCommand::StartAcquisition => {
                let handle = context.accept_pending();
                let _ = handles.lock().unwrap().send(handle);
                ApiCommandRequestResponse::pending_with_notification()
            }
            // The manual way: pending without accept_pending.
            ApiCommand::StopAcquisition => ApiCommandRequestResponse::pending_with_notification(),
            // Accepted, then answered at once: the acceptance is withdrawn.
            ApiCommand::GetStatus => {
                let _ = context.accept_pending();
                ApiCommandRequestResponse::success()
            }
            _ => ApiCommandRequestResponse::success(),
        }
    }

    #[test]
    fn a_pending_command_completed_from_another_thread_publishes_its_result_once() {
        assert_send_sync_clone::<CompletionHandle>();
        let service = started(options());
        let (tx, handles) = mpsc::channel();
        service.set_delegate(accepting_delegate(tx));
        let sub = joined(&service, &[COMMAND_RESULT]);
        let mut req = ReqClient::connect(service.command_port());

        let reply = req.request(br#"{"command": 100, "nonce": 41}"#);
        assert_eq!(
            String::from_utf8(reply).unwrap(),
            r#"{"nonce":41,"command":100,"result":201,"data":null,"errorKind":0,"errorCode":0,"errorMessage":null}"#
        );
        let handle = handles.recv_timeout(WAIT).expect("the delegate's handle");
        assert_eq!(
            (handle.command(), handle.nonce()),
            (ApiCommand::StartAcquisition.into(), 41)
        );
        let listed = service.pending_commands();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].command, listed[0].nonce),
            (ApiCommand::StartAcquisition.into(), 41)
        );
        assert_eq!(service.stats().pending_open, 1);

        let worker_handle = handle.clone();
        std::thread::spawn(move || {
            worker_handle.complete(
                ApiCommandRequestResponse::success().with_data(&json!({"frames_written": 10})),
            )
        })
        .join()
        .unwrap()
        .expect("complete from a worker thread");

        let result = sub.expect_topic(COMMAND_RESULT);
        assert_eq!(
            result.body_str(),
            r#"{"result": 100, "data": {"framesWritten": 10}, "errorCode": 0, "errorMessage": null, "command": 100, "nonce": 41}"#
        );
        assert!(service.pending_commands().is_empty());
        assert!(matches!(
            handle.complete(ApiCommandRequestResponse::success()),
            Err(Error::AlreadyCompleted { nonce: 41 })
        ));
        assert!(matches!(
            service.complete_pending(41, ApiCommandRequestResponse::success()),
            Err(Error::UnknownNonce { nonce: 41 })
        ));
        assert!(matches!(
            service.complete_pending(999, ApiCommandRequestResponse::success()),
            Err(Error::UnknownNonce { nonce: 999 })
        ));
        // Exactly one result was published.
        fence(&service, &sub);
        service.stop();
    }

    #[test]
    fn the_service_completes_a_pending_command_by_nonce() {
        let service = started(options());
        let (tx, handles) = mpsc::channel();
        service.set_delegate(accepting_delegate(tx));
        let sub = joined(&service, &[COMMAND_RESULT]);
        let mut req = ReqClient::connect(service.command_port());

        for nonce in [51, 52] {
            let reply = req.request_json(&json!({"command": 100, "nonce": nonce}));
            assert_eq!(reply["result"], 201);
        }
        drop(handles);
        let listed: Vec<i64> = service.pending_commands().iter().map(|p| p.nonce).collect();
        assert_eq!(listed, [51, 52]);

        // The command and nonce come from the request, whatever the response says.
        service
            .complete_pending(
                52,
                ApiCommandRequestResponse::failed(3, "busy").for_request(ApiCommand::None, 0),
            )
            .expect("complete 52");
        let result = sub.expect_topic(COMMAND_RESULT);
        assert_eq!(
            result.body_str(),
            r#"{"result": 400, "data": null, "errorCode": 3, "errorMessage": "busy", "command": 100, "nonce": 52}"#
        );
        let listed: Vec<i64> = service.pending_commands().iter().map(|p| p.nonce).collect();
        assert_eq!(listed, [51]);
        service.stop();
    }

    #[test]
    fn the_manual_way_publishes_the_result_and_clears_the_listing() {
        let service = started(options());
        let (tx, _handles) = mpsc::channel();
        service.set_delegate(accepting_delegate(tx));
        let sub = joined(&service, &[COMMAND_RESULT]);
        let mut req = ReqClient::connect(service.command_port());

        let reply = req.request_json(&json!({"command": 110, "nonce": 61}));
        assert_eq!(reply["result"], 201, "{reply}");
        let listed = service.pending_commands();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].command, listed[0].nonce),
            (ApiCommand::StopAcquisition.into(), 61)
        );

        // An answer other than PENDING_WITH_NOTIFICATION withdraws an acceptance.
        let reply = req.request_json(&json!({"command": 400, "nonce": 62}));
        assert_eq!(reply["result"], 100, "{reply}");
        assert_eq!(service.pending_commands().len(), 1);

        service
            .publish_command_result(
                ApiCommandRequestResponse::success().for_request(ApiCommand::StopAcquisition, 61),
            )
            .unwrap();
        let result = sub.expect_topic(COMMAND_RESULT);
        assert_eq!(
            result.body_str(),
            r#"{"result": 100, "data": null, "errorCode": 0, "errorMessage": null, "command": 110, "nonce": 61}"#
        );
        assert!(service.pending_commands().is_empty());
        assert!(matches!(
            service.complete_pending(61, ApiCommandRequestResponse::success()),
            Err(Error::UnknownNonce { nonce: 61 })
        ));
        service.stop();
    }

    /// `complete` on a full queue returns [`Error::QueueFull`], and the
    /// command stays pending: listed, completable again once there is room,
    /// and then published once.
    ///
    /// The queue is made full without a subscriber's help: room for one
    /// ordinary message and no critical reserve; a large message that the
    /// publisher thread takes and then spends a while serializing, and a
    /// small one that waits behind it. Should the publisher still be faster
    /// than the test, the next attempt uses a fresh pending command.
    #[test]
    fn completing_on_a_full_queue_leaves_the_command_pending_and_it_can_be_completed_again() {
        const ATTEMPTS: i64 = 20;
        let mut opts = options();
        opts.queue_capacity = 1;
        opts.critical_reserve = 0;
        opts.linger = Duration::from_secs(30);
        let service = started(opts);
        let (tx, handles) = mpsc::channel();
        service.set_delegate(accepting_delegate(tx));
        let sub = joined(&service, &[COMMAND_RESULT]);
        let mut req = ReqClient::connect(service.command_port());
        let large = json!({ "blob": "x".repeat(16 * 1024 * 1024) });

        let mut refused = None;
        for nonce in 0..ATTEMPTS {
            let reply = req.request_json(&json!({"command": 100, "nonce": nonce}));
            assert_eq!(reply["result"], 201, "{reply}");
            let handle = handles.recv_timeout(WAIT).expect("the delegate's handle");

            wait_for_stats(&service, "the queue drained", |s| s.queue_depth == 0);
            service
                .publish_json(ApiTopic::PropertyChange, large.clone())
                .expect("room for the large message");
            // Queued once the publisher has taken the large one.
            let deadline = Instant::now() + WAIT;
            while let Err(error) = service.publish_bytes(ApiTopic::Event, b"{}".to_vec()) {
                assert!(matches!(error, Error::QueueFull { .. }), "{error:?}");
                assert!(Instant::now() < deadline, "the large message stayed queued");
            }
            match handle
                .complete(ApiCommandRequestResponse::success().with_data(&json!({"try": 1})))
            {
                Err(Error::QueueFull { topic }) => {
                    assert_eq!(topic, ApiTopic::CommandResult);
                    refused = Some((nonce, handle));
                    break;
                }
                Ok(()) => {} // the publisher was quicker: try again
                Err(other) => panic!("{other:?}"),
            }
        }
        let (nonce, handle) = refused.unwrap_or_else(|| {
            panic!("the queue was never full when completing, in {ATTEMPTS} attempts")
        });
        eprintln!("complete refused at attempt {}", nonce + 1);

        // Still pending, and counted as a refused critical message.
        let listed: Vec<i64> = service.pending_commands().iter().map(|p| p.nonce).collect();
        assert_eq!(listed, [nonce]);
        let stats = service.stats();
        assert_eq!((stats.pending_open, stats.rejected_critical), (1, 1));

        // Once there is room, completing again publishes the result, once.
        wait_for_stats(&service, "the queue drained", |s| s.queue_depth == 0);
        handle
            .complete(ApiCommandRequestResponse::success().with_data(&json!({"try": 2})))
            .expect("completed on the second try");
        assert!(service.pending_commands().is_empty());
        assert!(matches!(
            handle.complete(ApiCommandRequestResponse::success()),
            Err(Error::AlreadyCompleted { nonce: n }) if n == nonce
        ));
        service.stop();
        // Earlier attempts' results come first; this command's comes once.
        let mut results = Vec::new();
        while let Some(message) = sub.recv(Duration::from_millis(500)) {
            assert_eq!(message.topic(), Some(COMMAND_RESULT));
            results.push(message.json());
        }
        let ours: Vec<&Value> = results.iter().filter(|r| r["nonce"] == nonce).collect();
        assert_eq!(ours.len(), 1, "{results:?}");
        assert_eq!(ours[0]["result"], 100, "{}", ours[0]);
        assert_eq!(ours[0]["data"], json!({"try": 2}), "{}", ours[0]);
        assert_eq!(
            results.len() as i64,
            nonce + 1,
            "one result per attempt: {results:?}"
        );
    }

    #[test]
    fn commands_pending_at_stop_are_published_as_failed_after_what_was_queued() {
        let service = started(options());
        let (tx, handles) = mpsc::channel();
        service.set_delegate(accepting_delegate(tx));
        let sub = joined(&service, &[EVENT, COMMAND_RESULT]);
        let mut req = ReqClient::connect(service.command_port());

        for nonce in [71, 72] {
            let reply = req.request_json(&json!({"command": 100, "nonce": nonce}));
            assert_eq!(reply["result"], 201);
        }
        let reply = req.request_json(&json!({"command": 110, "nonce": 73}));
        assert_eq!(reply["result"], 201);
        let handle = handles.recv_timeout(WAIT).unwrap();
        for i in 0..100 {
            service
                .publish_event(event(ApiEventKind::TunnelExit, i, None))
                .unwrap();
        }
        service.stop();

        for i in 0..100 {
            let message = next(&sub);
            assert_eq!(message.topic(), Some(EVENT));
            assert_eq!(message.json()["index"], i);
        }
        let mut settled = Vec::new();
        for _ in 0..3 {
            let message = next(&sub);
            assert_eq!(message.topic(), Some(COMMAND_RESULT));
            let body = message.json();
            assert_eq!(body["result"], ApiCommandRequestResult::Failed.value());
            assert_eq!(body["errorCode"], ERROR_CODE_STOPPED_WHILE_PENDING);
            assert!(body["errorMessage"].is_string(), "{body}");
            settled.push((
                body["command"].as_i64().unwrap(),
                body["nonce"].as_i64().unwrap(),
            ));
        }
        assert_eq!(settled, [(100, 71), (100, 72), (110, 73)]);
        assert!(service.pending_commands().is_empty());
        assert!(matches!(
            handle.complete(ApiCommandRequestResponse::success()),
            Err(Error::AlreadyCompleted { nonce: 71 })
        ));
    }
}

mod tokio_app {
    use super::*;

    #[tokio::test]
    async fn an_app_running_tokio_can_embed_the_service() {
        let service = Arc::new(started(options()));
        service.set_delegate(|request: ApiCommandRequest, _: &RequestContext| {
            ApiCommandRequestResponse::success().with_data(&request.nonce)
        });

        // Blocking peers run off the runtime's thread; the service needs none of it.
        let peer = service.clone();
        let received = tokio::time::timeout(
            Duration::from_secs(20),
            tokio::task::spawn_blocking(move || {
                let sub = joined(&peer, &[EVENT]);
                let reply = ReqClient::connect(peer.command_port())
                    .request_json(&json!({"command": 0, "nonce": 3}));
                (sub, reply)
            }),
        )
        .await
        .expect("peers in time")
        .expect("peer task");
        let (sub, reply) = received;
        assert_eq!(reply["data"], 3);

        let publisher = service.clone();
        tokio::spawn(async move {
            publisher
                .publish_event(event(ApiEventKind::AcquisitionStarted, 9, None))
                .expect("publish from a task");
        })
        .await
        .unwrap();
        let message = tokio::time::timeout(
            Duration::from_secs(10),
            tokio::task::spawn_blocking(move || sub.expect_topic(EVENT)),
        )
        .await
        .expect("event in time")
        .unwrap();
        assert_eq!(message.json()["index"], 9);

        service.stop();
        assert!(!service.is_running());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_multi_threaded_runtime_can_start_and_stop_it_from_a_task() {
        let service = tokio::spawn(async {
            let service = started(options());
            service
                .publish_str(ApiTopic::PropertyChange, "{}")
                .expect("publish");
            service
        })
        .await
        .unwrap();
        assert!(service.is_running());
        tokio::task::spawn_blocking(move || service.stop())
            .await
            .unwrap();
    }
}

/// The handles an app's threads hold: [`auto_trainer_api::Publisher`] and
/// [`CompletionHandle`], and the service's lifetime when they outlive it.
mod handles {
    use super::*;

    #[test]
    fn a_worker_thread_publishes_and_completes_through_handles_from_the_context() {
        let service = started(options());
        service.set_delegate(|request: ApiCommandRequest, context: &RequestContext| {
            let publisher = context.publisher().clone();
            let done = context.accept_pending();
            let again = context.accept_pending();
            std::thread::spawn(move || {
                let started = ApiEvent::new(ApiEventKind::AcquisitionStarted, request.data);
                publisher
                    .publish_event(started)
                    .expect("publish from the worker");
                done.complete(ApiCommandRequestResponse::success())
                    .expect("first completion");
                // Both handles name the same pending command.
                assert!(matches!(
                    again.complete(ApiCommandRequestResponse::success()),
                    Err(Error::AlreadyCompleted { .. })
                ));
            });
            ApiCommandRequestResponse::pending_with_notification()
        });
        let sub = joined(&service, &[EVENT, COMMAND_RESULT]);
        let mut req = ReqClient::connect(service.command_port());
        let reply =
            req.request_json(&json!({"command": 100, "nonce": 31, "data": {"animalId": "m-9"}}));
        assert_eq!(reply["result"], 201, "{reply}");

        let event = sub.expect_topic(EVENT).json();
        assert_eq!(event["kind"], 301, "{event}");
        assert_eq!(event["context"], json!({"animalId": "m-9"}));
        let result = sub.expect_topic(COMMAND_RESULT).json();
        assert_eq!(
            (result["nonce"].as_i64(), result["result"].as_i64()),
            (Some(31), Some(100))
        );
        assert!(service.pending_commands().is_empty());
    }

    #[test]
    fn dropping_the_service_stops_it_though_its_delegate_and_the_app_hold_publishers() {
        let service = started(options());
        let command_port = service.command_port();
        // What used to need an Arc of the service inside its own delegate.
        let publisher = service.publisher().clone();
        service.set_delegate(move |_: ApiCommandRequest, _: &RequestContext| {
            let _ = publisher.publish_json(ApiTopic::PropertyChange, json!({"asked": true}));
            ApiCommandRequestResponse::success()
        });
        let held = service.publisher().clone();
        let mut req = ReqClient::connect(command_port);
        assert_serving(&mut req, 1);
        assert!(held
            .publish_event(ApiEvent::new(ApiEventKind::TunnelEnter, None))
            .is_ok());

        drop(service);

        assert!(matches!(
            held.publish_event(ApiEvent::new(ApiEventKind::TunnelExit, None)),
            Err(Error::NotRunning)
        ));
        assert_eq!(held.stats().pending_open, 0);
        // The REP socket is closed: its port can be bound again.
        TcpListener::bind(("127.0.0.1", command_port)).expect("the command port is free");
    }
}
