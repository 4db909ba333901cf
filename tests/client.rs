//! The operator-side client over real sockets on 127.0.0.1: against this
//! crate's service, against the real Python reference service, against a
//! device that restarts, a device that never answers, a device that answers
//! late or for another nonce, and a publisher of malformed messages.
//!
//! Every wait has a timeout; nothing sleeps where a message can be awaited.

mod common;

use std::sync::mpsc as std_mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use auto_trainer_api::{
    decode_payload, ApiCommand, ApiCommandRequest, ApiCommandRequestErrorKind,
    ApiCommandRequestResponse, ApiCommandRequestResult, ApiCommandRequestServiceResponse, ApiEvent,
    ApiEventKind, ApiTopic, BlockingDeviceClient, ClientOptions, CommandCall, CompletionHandle,
    DeviceClient, DeviceMessage, Error, Generation, LinkState, Liveness, MessageStream, RawReason,
    RequestContext, RpcOptions, RpcService, StatusResponse, ZeroMqRpcService,
};
use common::python::{start_reference_service, PyProcess, ReferenceService};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);
const STARTUP: Duration = Duration::from_secs(30);
const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The delegate of the tests' device: answers every command of the protocol.
/// START_ACQUISITION completes at once (from another thread) with a result
/// whose data round-trips snake_case keys; STOP_ACQUISITION hands its
/// completion to the test through `held`.
fn device_delegate(
    held: Option<std_mpsc::Sender<CompletionHandle>>,
) -> impl Fn(ApiCommandRequest, &RequestContext) -> ApiCommandRequestResponse + Send + Sync + 'static
{
    let held = Mutex::new(held);
    move |request: ApiCommandRequest, context: &RequestContext| match request.command {
        ApiCommand::None => ApiCommandRequestResponse::success(),
        ApiCommand::GetStatus => ApiCommandRequestResponse::success().with_data(&StatusResponse {
            app_status: auto_trainer_api::ApiAppStatus::Idle,
            training_mode: auto_trainer_api::ApiTrainingMode::Manual,
            animal_id: "Mouse 42".into(),
        }),
        ApiCommand::GetConfiguration => {
            ApiCommandRequestResponse::success().with_data(&json!({"cage_name": "not acquiring"}))
        }
        ApiCommand::StartAcquisition => {
            let done = context.accept_pending();
            let animal = request.data.clone().unwrap_or(Value::Null);
            std::thread::spawn(move || {
                // A failure shows here, and as the missing result in the test.
                done.complete(
                    ApiCommandRequestResponse::success()
                        .with_data(&json!({"acquisition_id": "a-1", "request_data": animal})),
                )
                .expect("the START's result is queued");
            });
            ApiCommandRequestResponse::pending_with_notification()
        }
        ApiCommand::StopAcquisition => {
            let done = context.accept_pending();
            match held.lock().unwrap().as_ref() {
                Some(held) => {
                    held.send(done).unwrap();
                    ApiCommandRequestResponse::pending_with_notification()
                }
                None => ApiCommandRequestResponse::success(),
            }
        }
        ApiCommand::EmergencyStop => ApiCommandRequestResponse::success().with_data(&request.data),
        ApiCommand::EmergencyResume => {
            ApiCommandRequestResponse::failed(3, "not emergency-stopped")
        }
        ApiCommand::UserDefined => ApiCommandRequestResponse::success()
            .with_data(&json!({"custom_command": request.custom_command, "echo": request.data})),
        _ => ApiCommandRequestResponse::unrecognized(),
    }
}

fn rpc_options(identifier: &str, pub_port: u16, cmd_port: u16) -> RpcOptions {
    let mut options = RpcOptions::loopback();
    options.identifier = identifier.into();
    options.heartbeat_interval = HEARTBEAT_INTERVAL;
    options.subscriber_port = pub_port;
    options.command_port = cmd_port;
    options.linger = Duration::from_millis(100);
    options
}

/// Our service on loopback (port 0 = a free port), started.
fn our_service(
    identifier: &str,
    pub_port: u16,
    cmd_port: u16,
    held: Option<std_mpsc::Sender<CompletionHandle>>,
) -> ZeroMqRpcService {
    let service = ZeroMqRpcService::new(rpc_options(identifier, pub_port, cmd_port));
    service.set_delegate(device_delegate(held));
    service.start().expect("start the service");
    service
}

fn client_options(pub_port: u16, cmd_port: u16) -> ClientOptions {
    let mut options = ClientOptions::new("127.0.0.1").with_ports(pub_port, cmd_port);
    options.request_timeout = Duration::from_secs(5);
    options
}

fn connect_to(service: &ZeroMqRpcService) -> DeviceClient {
    connect_tuned(service, |_| {})
}

/// A client of `service` with the test options as `tune` changes them.
fn connect_tuned(
    service: &ZeroMqRpcService,
    tune: impl FnOnce(&mut ClientOptions),
) -> DeviceClient {
    let mut options = client_options(service.subscriber_port(), service.command_port());
    tune(&mut options);
    DeviceClient::connect(options).expect("connect")
}

async fn wait_liveness(
    client: &DeviceClient,
    what: &str,
    mut predicate: impl FnMut(&Liveness) -> bool,
) -> Liveness {
    let mut liveness = client.liveness();
    let outcome = tokio::time::timeout(WAIT, liveness.wait_for(|l| predicate(l))).await;
    match outcome {
        Ok(Ok(now)) => now.clone(),
        Ok(Err(_)) => panic!("liveness closed while waiting for {what}"),
        Err(_) => panic!(
            "not {what} within {WAIT:?}: {:?}",
            *client.liveness().borrow()
        ),
    }
}

async fn wait_online(client: &DeviceClient, identifier: &str) -> Liveness {
    wait_liveness(client, &format!("online as {identifier}"), |l| {
        l.state == LinkState::Online && l.identifier.as_deref() == Some(identifier)
    })
    .await
}

/// The next message that is not a heartbeat.
async fn next_non_heartbeat(stream: &mut MessageStream) -> DeviceMessage {
    loop {
        let message = tokio::time::timeout(WAIT, stream.recv())
            .await
            .unwrap_or_else(|_| panic!("no message within {WAIT:?}"))
            .expect("stream closed");
        if !matches!(message, DeviceMessage::Heartbeat(_)) {
            return message;
        }
    }
}

fn port_of(endpoint: &Value) -> u16 {
    endpoint
        .as_str()
        .and_then(|e| e.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {endpoint}"))
}

// ---------------------------------------------------------------------------
// Against our service
// ---------------------------------------------------------------------------

#[tokio::test]
async fn every_command_gets_its_typed_reply_from_our_service() {
    let service = our_service("rig-ours", 0, 0, None);
    let client = connect_to(&service);
    let mut nonces = Vec::new();

    let status = client
        .send_command(ApiCommand::GetStatus, None)
        .await
        .unwrap();
    assert_eq!(status.result, ApiCommandRequestResult::Success);
    assert_eq!(status.command, ApiCommand::GetStatus);
    assert_eq!(status.error_kind, ApiCommandRequestErrorKind::None);
    let data = status.data.clone().unwrap();
    let typed: StatusResponse = decode_payload(&data).unwrap();
    assert_eq!(typed.animal_id, "Mouse 42");
    nonces.push(status.nonce);

    let config = client
        .send_command(ApiCommand::GetConfiguration, None)
        .await
        .unwrap();
    assert_eq!(config.data, Some(json!({"cage_name": "not acquiring"})));
    nonces.push(config.nonce);

    let ping = client.send_command(ApiCommand::None, None).await.unwrap();
    assert_eq!(ping.result, ApiCommandRequestResult::Success);
    nonces.push(ping.nonce);

    let start = client
        .send_command(
            ApiCommand::StartAcquisition,
            Some(json!({"animal_id": "m 7"})),
        )
        .await
        .unwrap();
    assert_eq!(
        start.result,
        ApiCommandRequestResult::PendingWithNotification
    );
    let result = client.wait_for_result(start.nonce, WAIT).await.unwrap();
    assert_eq!(result.result, ApiCommandRequestResult::Success);
    assert_eq!(result.command, ApiCommand::StartAcquisition);
    assert_eq!(result.nonce, start.nonce);
    assert_eq!(
        result.data,
        Some(json!({"acquisition_id": "a-1", "request_data": {"animal_id": "m 7"}}))
    );
    nonces.push(start.nonce);

    let stop = client
        .send_command(ApiCommand::StopAcquisition, None)
        .await
        .unwrap();
    assert_eq!(stop.result, ApiCommandRequestResult::Success);
    nonces.push(stop.nonce);

    let estop = client
        .send_command(
            ApiCommand::EmergencyStop,
            Some(json!({"reason": "door open"})),
        )
        .await
        .unwrap();
    assert_eq!(estop.data, Some(json!({"reason": "door open"})));
    nonces.push(estop.nonce);

    let resume = client
        .send_command(ApiCommand::EmergencyResume, None)
        .await
        .unwrap();
    assert_eq!(resume.result, ApiCommandRequestResult::Failed);
    assert_eq!(resume.error_kind, ApiCommandRequestErrorKind::CommandError);
    assert_eq!(resume.error_code, 3);
    assert_eq!(
        resume.error_message.as_deref(),
        Some("not emergency-stopped")
    );
    nonces.push(resume.nonce);

    let custom = client
        .send(
            CommandCall::new(ApiCommand::UserDefined)
                .custom_command(42)
                .data(json!({"valve_id": 2})),
        )
        .await
        .unwrap();
    assert_eq!(
        custom.data,
        Some(json!({"custom_command": 42, "echo": {"valve_id": 2}}))
    );
    nonces.push(custom.nonce);

    let unknown = client
        .send_command(ApiCommand::Unknown(12345), None)
        .await
        .unwrap();
    assert_eq!(unknown.result, ApiCommandRequestResult::Unrecognized);
    assert_eq!(unknown.command, ApiCommand::Unknown(12345));
    nonces.push(unknown.nonce);

    let mut unique = nonces.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), nonces.len(), "nonces repeat: {nonces:?}");
    assert!(nonces.iter().all(|n| *n > 0), "{nonces:?}");

    let stats = client.stats();
    assert_eq!(stats.requests_sent, 9);
    assert_eq!(stats.replies_received, 9);
    assert_eq!(stats.request_timeouts, 0);
    client.close();
    assert!(matches!(
        client.send_command(ApiCommand::None, None).await,
        Err(Error::ClientClosed)
    ));
    service.stop();
}

/// Clients share a libzmq context (and its one I/O thread). A client closed
/// while its SUB is connected must not wedge that thread: libzmq reports the
/// closing connection on the SUB's monitor with a blocking send, which never
/// returns once the monitor's reader is gone; every other client would then
/// stop hearing its device.
#[tokio::test]
async fn clients_closed_while_connected_leave_the_others_working() {
    let service = our_service("rig-close", 0, 0, None);
    let survivor = connect_to(&service);
    wait_online(&survivor, "rig-close").await;
    let mut stream = survivor.subscribe();
    // The race: a device going away just as its client closes.
    for _ in 0..20 {
        let device = our_service("rig-gone", 0, 0, None);
        let clients: Vec<_> = (0..5).map(|_| connect_to(&device)).collect();
        for client in &clients {
            wait_online(client, "rig-gone").await;
        }
        drop(clients);
        drop(device);
    }
    // Heartbeats still reach the client that stayed, and a new client joins.
    let mut heartbeats = 0;
    while heartbeats < 3 {
        let message = tokio::time::timeout(WAIT, stream.recv())
            .await
            .expect("the surviving client hears its device")
            .expect("stream open");
        heartbeats += usize::from(matches!(message, DeviceMessage::Heartbeat(_)));
    }
    let newcomer = connect_to(&service);
    wait_online(&newcomer, "rig-close").await;
}

#[tokio::test]
async fn a_pending_result_is_awaitable_before_and_after_it_arrives() {
    let (held_tx, held_rx) = std_mpsc::channel();
    let service = our_service("rig-pending", 0, 0, Some(held_tx));
    let client = connect_to(&service);
    let mut stream = client.subscribe();

    // Awaited while pending, listed by awaited_commands, settled by the result.
    let stop = client
        .send_command(ApiCommand::StopAcquisition, None)
        .await
        .unwrap();
    assert_eq!(
        stop.result,
        ApiCommandRequestResult::PendingWithNotification
    );
    let awaited = client.awaited_commands();
    assert_eq!(awaited.len(), 1);
    assert_eq!(awaited[0].nonce, stop.nonce);
    assert_eq!(awaited[0].command, ApiCommand::StopAcquisition);
    assert!(matches!(
        client.wait_for_result(stop.nonce, Duration::from_millis(100)).await,
        Err(Error::ResultTimeout { nonce, .. }) if nonce == stop.nonce
    ));
    let handle = held_rx
        .recv_timeout(WAIT)
        .expect("the delegate held the command");
    let waiter = {
        let client = client.clone();
        tokio::spawn(async move { client.wait_for_result(stop.nonce, WAIT).await })
    };
    handle
        .complete(ApiCommandRequestResponse::failed(9, "jammed"))
        .unwrap();
    let result = tokio::time::timeout(WAIT, waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(result.result, ApiCommandRequestResult::Failed);
    assert_eq!(result.error_code, 9);
    assert!(client.awaited_commands().is_empty());

    // A result that arrived before anyone waited is kept.
    let start = client
        .send_command(ApiCommand::StartAcquisition, None)
        .await
        .unwrap();
    loop {
        match next_non_heartbeat(&mut stream).await {
            DeviceMessage::CommandResult(r) if r.nonce == start.nonce => break,
            _ => continue,
        }
    }
    let early = client
        .wait_for_result(start.nonce, Duration::from_millis(1))
        .await
        .expect("kept");
    assert_eq!(early.command, ApiCommand::StartAcquisition);
    assert!(client.awaited_commands().is_empty());
    service.stop();
}

#[tokio::test]
async fn published_messages_arrive_typed_and_unknown_topics_raw() {
    let service = our_service("rig-events", 0, 0, None);
    let client = connect_to(&service);
    let mut stream = client.subscribe();
    wait_online(&client, "rig-events").await; // the subscription is live

    service
        .publish_event(ApiEvent::new(
            ApiEventKind::AcquisitionStarted,
            Some(json!({"file_name": "a b"})),
        ))
        .unwrap();
    service
        .publish_event(ApiEvent::new(
            ApiEventKind::EmergencyStop,
            Some(json!({"reason_text": "door"})),
        ))
        .unwrap();
    service
        .publish_json(
            ApiTopic::Event,
            json!({"kind": 77777, "when": 1.5, "index": 3, "context": null}),
        )
        .unwrap();
    service
        .publish_json(ApiTopic::PropertyChange, json!({"animal_id": "Mouse 42"}))
        .unwrap();
    service
        .publish_bytes(ApiTopic::Unknown(7777), b"{\"x\": 1}".to_vec())
        .unwrap();

    match next_non_heartbeat(&mut stream).await {
        DeviceMessage::Event(e) => {
            assert_eq!(e.kind, ApiEventKind::AcquisitionStarted);
            assert_eq!(e.context, Some(json!({"file_name": "a b"})));
        }
        other => panic!("{other:?}"),
    }
    match next_non_heartbeat(&mut stream).await {
        DeviceMessage::Emergency(e) => {
            assert_eq!(e.kind, ApiEventKind::EmergencyStop);
            assert_eq!(e.context, Some(json!({"reason_text": "door"})));
        }
        other => panic!("the EMERGENCY copy comes first: {other:?}"),
    }
    assert!(matches!(
        next_non_heartbeat(&mut stream).await,
        DeviceMessage::Event(e) if e.kind == ApiEventKind::EmergencyStop
    ));
    assert!(matches!(
        next_non_heartbeat(&mut stream).await,
        DeviceMessage::Event(e) if e.kind == ApiEventKind::Unknown(77777)
    ));
    assert_eq!(
        next_non_heartbeat(&mut stream).await,
        DeviceMessage::PropertyChange(json!({"animal_id": "Mouse 42"}))
    );
    match next_non_heartbeat(&mut stream).await {
        DeviceMessage::Raw(raw) => {
            assert_eq!(raw.topic, Some(ApiTopic::Unknown(7777)));
            assert_eq!(raw.reason, RawReason::UnknownTopic);
            assert_eq!(raw.frames[1], b"{\"x\": 1}");
        }
        other => panic!("{other:?}"),
    }
    let stats = client.stats();
    assert_eq!(stats.raw_messages, 1);
    assert_eq!(stats.malformed_messages, 0);
    service.stop();
}

#[tokio::test]
async fn liveness_follows_a_device_restart_and_commands_recover() {
    let first = our_service("rig-a", 0, 0, None);
    let (pub_port, cmd_port) = (first.subscriber_port(), first.command_port());
    let mut options = client_options(pub_port, cmd_port);
    options.request_timeout = Duration::from_millis(500);
    let client = DeviceClient::connect(options).unwrap();

    let online = wait_online(&client, "rig-a").await;
    // Our heartbeat names the reference version it follows and our crate's.
    assert_eq!(
        online.version,
        Some(format!("0.9.11+rust.{}", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(online.generation, Some(Generation::V0_9));
    assert_eq!(client.generation(), Some(Generation::V0_9));
    // Learned from the spacing of heartbeats.
    // Watchers are not woken per heartbeat; the stream shows them.
    let mut stream = client.subscribe();
    let mut heartbeats = 0;
    while heartbeats < 3 {
        let message = tokio::time::timeout(WAIT, stream.recv())
            .await
            .unwrap()
            .unwrap();
        heartbeats += usize::from(matches!(message, DeviceMessage::Heartbeat(_)));
    }
    let learned = client.liveness().borrow().clone();
    assert!(
        learned.heartbeat_interval < Duration::from_secs(1),
        "{:?}",
        learned.heartbeat_interval
    );
    client
        .send_command(ApiCommand::GetStatus, None)
        .await
        .unwrap();

    first.stop();
    drop(first);
    let offline = wait_liveness(&client, "offline", |l| l.state == LinkState::Offline).await;
    assert_eq!(offline.identifier.as_deref(), Some("rig-a"));

    // While the device is down a command times out and the socket is reset.
    let lost = client.send_command(ApiCommand::GetStatus, None).await;
    assert!(
        matches!(lost, Err(Error::RequestTimeout { attempts: 1, .. })),
        "{lost:?}"
    );

    let second = our_service("rig-b", pub_port, cmd_port, None);
    wait_online(&client, "rig-b").await;
    let reply = client
        .send(CommandCall::new(ApiCommand::GetStatus).retries(2))
        .await
        .expect("the client recovers after the restart");
    assert_eq!(reply.result, ApiCommandRequestResult::Success);
    let stats = client.stats();
    assert!(stats.request_timeouts >= 1);
    assert!(stats.publisher_connections >= 2, "{stats:?}");
    second.stop();
}

#[test]
fn the_blocking_client_works_without_a_runtime() {
    let service = our_service("rig-blocking", 0, 0, None);
    let mut client = BlockingDeviceClient::connect(client_options(
        service.subscriber_port(),
        service.command_port(),
    ))
    .unwrap();
    let start = client
        .send_command(ApiCommand::StartAcquisition, None)
        .unwrap();
    assert_eq!(
        start.result,
        ApiCommandRequestResult::PendingWithNotification
    );
    let result = client.wait_for_result(start.nonce, WAIT).unwrap();
    assert_eq!(result.nonce, start.nonce);
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no heartbeat");
        if let Some(DeviceMessage::Heartbeat(h)) = client.next_message(WAIT) {
            assert_eq!(h.identifier, "rig-blocking");
            break;
        }
    }
    assert_eq!(client.liveness().state, LinkState::Online);
    client.close();
    service.stop();
}

#[test]
fn invalid_options_are_refused() {
    let mut options = ClientOptions::new("");
    assert!(matches!(
        DeviceClient::connect(options.clone()),
        Err(Error::InvalidOptions(_))
    ));
    options.host = "127.0.0.1".into();
    options.missed_heartbeats = 0;
    assert!(matches!(
        DeviceClient::connect(options),
        Err(Error::InvalidOptions(_))
    ));
}

/// What a message is, in a word and a number, for comparing sequences.
fn shape(message: &DeviceMessage) -> String {
    match message {
        DeviceMessage::Emergency(e) => format!("EMERGENCY {}", e.kind.value()),
        DeviceMessage::Event(e) => format!("EVENT {}", e.kind.value()),
        DeviceMessage::PropertyChange(_) => "PROPERTY_CHANGE".to_owned(),
        DeviceMessage::CommandResult(r) => format!("COMMAND_RESULT {}", r.nonce),
        other => format!("{other:?}"),
    }
}

/// Publishes an EVENT, a PROPERTY_CHANGE, an emergency stop (on EMERGENCY,
/// then EVENT), a COMMAND_RESULT and an emergency resume, in that order.
fn publish_one_of_each(service: &ZeroMqRpcService) {
    let event = |kind| ApiEvent::new(kind, None);
    service
        .publish_event(event(ApiEventKind::AcquisitionStarted))
        .unwrap();
    service
        .publish_json(ApiTopic::PropertyChange, json!({"door": "open"}))
        .unwrap();
    service
        .publish_event(event(ApiEventKind::EmergencyStop))
        .unwrap();
    service
        .publish_command_result(
            ApiCommandRequestResponse::success().for_request(ApiCommand::None, 7),
        )
        .unwrap();
    service
        .publish_event(event(ApiEventKind::EmergencyResume))
        .unwrap();
}

/// `ClientOptions::topics`: only the topics listed arrive, plus HEARTBEAT
/// and COMMAND_RESULT, which are always received. A client with the default
/// (every topic) on the same device shows what was published.
#[tokio::test]
async fn the_topics_option_receives_only_those_topics_plus_heartbeats_and_results() {
    let service = our_service("rig-topics", 0, 0, None);
    let filtered = connect_tuned(&service, |options| {
        options.topics = vec![ApiTopic::Emergency]
    });
    let everything = connect_to(&service);
    let mut filtered_stream = filtered.subscribe();
    let mut everything_stream = everything.subscribe();
    // A heartbeat has arrived: the subscriptions, sent with it, are live.
    wait_online(&filtered, "rig-topics").await;
    wait_online(&everything, "rig-topics").await;

    publish_one_of_each(&service);
    let mut all = Vec::new();
    while all.last().map(String::as_str) != Some("EVENT 102") {
        all.push(shape(&next_non_heartbeat(&mut everything_stream).await));
    }
    assert_eq!(
        all,
        [
            "EVENT 301",
            "PROPERTY_CHANGE",
            "EMERGENCY 101",
            "EVENT 101",
            "COMMAND_RESULT 7",
            "EMERGENCY 102",
            "EVENT 102"
        ]
    );
    let mut only = Vec::new();
    while only.last().map(String::as_str) != Some("EMERGENCY 102") {
        only.push(shape(&next_non_heartbeat(&mut filtered_stream).await));
    }
    assert_eq!(only, ["EMERGENCY 101", "COMMAND_RESULT 7", "EMERGENCY 102"]);
    service.stop();
}

/// `ClientOptions::max_message_bytes`: a reply longer than the limit is
/// never delivered (libzmq drops the connection instead), so the command
/// times out; the client's fresh command socket then reads shorter replies
/// again. Published messages: see the next test.
#[tokio::test]
async fn the_max_message_bytes_option_refuses_longer_replies() {
    const LIMIT: usize = 4096;
    let service = our_service("rig-small", 0, 0, None);
    let client = connect_tuned(&service, |options| options.max_message_bytes = LIMIT);
    // The delegate echoes the data of a USER_DEFINED command.
    let echo = |n: i64, bytes: usize| {
        CommandCall::new(ApiCommand::UserDefined)
            .custom_command(n)
            .data(json!({ "blob": "x".repeat(bytes) }))
            .timeout(Duration::from_secs(2))
    };
    let echoed = |reply: ApiCommandRequestServiceResponse| {
        assert_eq!(reply.result, ApiCommandRequestResult::Success);
        let data = reply.data.expect("the echo");
        data["echo"]["blob"].as_str().map_or(0, str::len)
    };

    let short = client
        .send(echo(1, LIMIT / 2))
        .await
        .expect("a short reply");
    assert_eq!(echoed(short), LIMIT / 2);
    let long = client.send(echo(2, 2 * LIMIT)).await;
    assert!(
        matches!(long, Err(Error::RequestTimeout { attempts: 1, .. })),
        "{long:?}"
    );
    let again = client
        .send(echo(3, LIMIT / 2))
        .await
        .expect("a short reply again");
    assert_eq!(echoed(again), LIMIT / 2);
    let stats = client.stats();
    assert_eq!((stats.replies_received, stats.request_timeouts), (2, 1));

    // Without the option, the same long reply is read.
    let unlimited = connect_to(&service);
    let long = unlimited
        .send(echo(4, 2 * LIMIT))
        .await
        .expect("a long reply");
    assert_eq!(echoed(long), 2 * LIMIT);
    service.stop();
}

/// `ClientOptions::message_buffer` and `ClientStats::lagged_messages`: a
/// stream that falls behind by more than the buffer skips the oldest
/// messages, counts them, and still gets the newest.
#[tokio::test]
async fn a_stream_that_falls_behind_skips_the_oldest_and_counts_them() {
    const BUFFER: usize = 4;
    const BURST: u64 = 50;
    let mut rpc = rpc_options("rig-lagging", 0, 0);
    rpc.heartbeat_interval = Duration::from_secs(3600);
    let service = ZeroMqRpcService::new(rpc);
    service.start().expect("start");
    let client = connect_tuned(&service, |options| options.message_buffer = BUFFER);
    let mut stream = client.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut probe = 0;
    publish_probes_until_one_arrives(&service, &client, &mut stream, &mut probe, deadline).await;
    while stream.try_recv().is_some() {}
    let before = client.stats();

    for n in 1..=BURST {
        service
            .publish_json(ApiTopic::PropertyChange, json!({ "n": n }))
            .unwrap();
    }
    while client.stats().messages_received < before.messages_received + BURST {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            client.stats()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut delivered = Vec::new();
    while let Some(message) = stream.try_recv() {
        delivered.push(message);
    }
    let after = client.stats();
    let arrived = after.messages_received - before.messages_received;
    assert_eq!(delivered.len(), BUFFER, "{delivered:?}");
    assert_eq!(
        after.lagged_messages - before.lagged_messages,
        arrived - BUFFER as u64
    );
    assert_eq!(
        delivered.last(),
        Some(&DeviceMessage::PropertyChange(json!({ "n": BURST })))
    );
    service.stop();
}

/// Publishes `{"probe": n}` with a new `n` each time until one reaches
/// `stream` (a SUB that has not joined yet, or is reconnecting, misses
/// some); panics at `deadline`, with `client`'s stats.
async fn publish_probes_until_one_arrives(
    service: &ZeroMqRpcService,
    client: &DeviceClient,
    stream: &mut MessageStream,
    probe: &mut u64,
    deadline: tokio::time::Instant,
) {
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no probe arrived after probe {probe}; {:?}",
            client.stats()
        );
        *probe += 1;
        let message = json!({ "probe": *probe });
        service
            .publish_json(ApiTopic::PropertyChange, message.clone())
            .unwrap();
        if next_property_change_is(stream, &message).await {
            return;
        }
    }
}

/// Whether `expected` arrives as a PROPERTY_CHANGE within 200 ms (other
/// messages are skipped).
async fn next_property_change_is(stream: &mut MessageStream, expected: &Value) -> bool {
    let until = tokio::time::Instant::now() + Duration::from_millis(200);
    loop {
        match tokio::time::timeout_at(until, stream.recv()).await {
            Ok(Some(DeviceMessage::PropertyChange(value))) if &value == expected => return true,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the stream ended"),
            Err(_) => return false,
        }
    }
}

/// A published message longer than `max_message_bytes` ends the SUB
/// connection (libzmq calls it a protocol error and would never reconnect);
/// the client connects again, so later messages still arrive.
#[tokio::test]
async fn after_a_published_message_over_max_message_bytes_the_client_reconnects() {
    const LIMIT: usize = 4096;
    let service = our_service("rig-oversized", 0, 0, None);
    let client = connect_tuned(&service, |options| options.max_message_bytes = LIMIT);
    let mut stream = client.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    // Joined: a small message arrives.
    let mut probe = 0;
    publish_probes_until_one_arrives(&service, &client, &mut stream, &mut probe, deadline).await;
    assert_eq!(client.stats().publisher_connections, 1);

    let oversized = json!({ "blob": "x".repeat(2 * LIMIT) });
    service
        .publish_json(ApiTopic::PropertyChange, oversized)
        .unwrap();
    // Connected again: small messages arrive again, over a second connection.
    publish_probes_until_one_arrives(&service, &client, &mut stream, &mut probe, deadline).await;
    assert_eq!(
        client.stats().publisher_connections,
        2,
        "{:?}",
        client.stats()
    );
    service.stop();
}

// ---------------------------------------------------------------------------
// Devices that misbehave
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_reply_that_never_comes_does_not_wedge_the_client() {
    let mut silent = PyProcess::spawn(
        "zmq_peer",
        &["silent-rep", "--endpoint", "tcp://127.0.0.1:0"],
    );
    let cmd_port = port_of(&silent.expect_ready(STARTUP)["endpoint"]);
    let mut publisher = PyProcess::spawn("zmq_peer", &["pub", "--endpoint", "tcp://127.0.0.1:0"]);
    let pub_port = port_of(&publisher.expect_ready(STARTUP)["endpoint"]);

    let mut options = client_options(pub_port, cmd_port);
    options.request_timeout = Duration::from_millis(300);
    let client = DeviceClient::connect(options).unwrap();

    let started = Instant::now();
    let lost = client
        .send(CommandCall::new(ApiCommand::GetStatus).retries(2))
        .await;
    let Err(Error::RequestTimeout {
        nonce,
        attempts,
        command,
        ..
    }) = lost
    else {
        panic!("expected a timeout, got {lost:?}");
    };
    assert_eq!((attempts, command), (3, ApiCommand::GetStatus.into()));
    eprintln!("3 attempts of 300 ms took {:?}", started.elapsed());
    // Each attempt reached the device, on a fresh socket, with the same nonce.
    for _ in 0..3 {
        let seen = silent
            .wait_for(WAIT, |v| v.get("received").is_some())
            .expect("the silent device saw the request");
        let request: Value = serde_json::from_str(seen["received"].as_str().unwrap()).unwrap();
        assert_eq!(request["nonce"], nonce);
        assert_eq!(request["command"], 400);
    }
    let stats = client.stats();
    assert_eq!(stats.request_timeouts, 3);
    assert_eq!(stats.requests_sent, 3);

    // The device comes back (ours, on the same ports): the next call succeeds.
    silent.close_stdin();
    silent.wait_exit(WAIT).expect("silent-rep exits");
    publisher.close_stdin();
    publisher.wait_exit(WAIT).expect("pub exits");
    let service = our_service("rig-back", pub_port, cmd_port, None);
    let reply = client
        .send_command(ApiCommand::GetStatus, None)
        .await
        .unwrap();
    assert_eq!(reply.result, ApiCommandRequestResult::Success);
    assert_ne!(reply.nonce, nonce);
    service.stop();
}

/// A device that answers the first request late and the second with the
/// first's nonce: the late reply is never seen, the wrong one is refused.
#[tokio::test]
async fn late_and_mismatched_replies_are_never_taken_for_the_answer() {
    let context = zmq::Context::new();
    let router = context.socket(zmq::ROUTER).unwrap();
    router.set_linger(0).unwrap();
    router.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = router.get_last_endpoint().unwrap().unwrap();
    let cmd_port: u16 = endpoint.rsplit(':').next().unwrap().parse().unwrap();
    router.set_rcvtimeo(10_000).unwrap();
    // A PUB for the client's SUB, so commands need not wait for it.
    let publisher = context.socket(zmq::PUB).unwrap();
    publisher.set_linger(0).unwrap();
    publisher.bind("tcp://127.0.0.1:*").unwrap();
    let pub_endpoint = publisher.get_last_endpoint().unwrap().unwrap();
    let pub_port: u16 = pub_endpoint.rsplit(':').next().unwrap().parse().unwrap();

    let device = std::thread::spawn(move || {
        let reply_for = |request: &[u8]| -> Vec<u8> {
            let request: Value = serde_json::from_slice(request).unwrap();
            json!({"nonce": request["nonce"], "command": request["command"], "result": 100,
                   "data": null, "errorKind": 0, "errorCode": 0, "errorMessage": null})
            .to_string()
            .into_bytes()
        };
        // [identity, empty delimiter, body]
        let first = router.recv_multipart(0).expect("first request");
        let second = router
            .recv_multipart(0)
            .expect("second request (after the reset)");
        assert_ne!(first[0], second[0], "a new socket, a new identity");
        // The late reply goes to the closed socket; the second request gets
        // the first one's answer.
        router
            .send_multipart([&first[0][..], b"", &reply_for(&first[2])], 0)
            .unwrap();
        router
            .send_multipart([&second[0][..], b"", &reply_for(&first[2])], 0)
            .unwrap();
        let third = router.recv_multipart(0).expect("third request");
        router
            .send_multipart([&third[0][..], b"", &reply_for(&third[2])], 0)
            .unwrap();
    });

    let mut options = client_options(pub_port, cmd_port);
    options.request_timeout = Duration::from_millis(300);
    let client = DeviceClient::connect(options).unwrap();
    let first = client.send_command(ApiCommand::GetStatus, None).await;
    assert!(
        matches!(first, Err(Error::RequestTimeout { .. })),
        "{first:?}"
    );
    let mut call = CommandCall::new(ApiCommand::GetConfiguration);
    call.timeout = Some(WAIT);
    let second = client.send(call).await;
    assert!(
        matches!(&second, Err(Error::InvalidReply(m)) if m.contains("nonce")),
        "{second:?}"
    );
    let third = client
        .send(CommandCall::new(ApiCommand::None).timeout(WAIT))
        .await
        .expect("the third request is answered");
    assert_eq!(third.command, ApiCommand::None);
    assert_eq!(client.stats().invalid_replies, 1);
    device.join().unwrap();
    drop(publisher);
}

#[tokio::test]
async fn malformed_published_messages_are_delivered_raw_and_counted() {
    let mut publisher = PyProcess::spawn("zmq_peer", &["pub", "--endpoint", "tcp://127.0.0.1:0"]);
    let pub_port = port_of(&publisher.expect_ready(STARTUP)["endpoint"]);
    // No command is sent: the command port is one nothing speaks ZMTP on.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut options = client_options(pub_port, silent.local_addr().unwrap().port());
    options.heartbeat_interval = Some(Duration::from_secs(60));
    let client = DeviceClient::connect(options).unwrap();
    let mut stream = client.subscribe();

    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let topic = |t: u32| hex(&t.to_le_bytes());
    let heartbeat = hex(br#"{"identifier": "py-pub", "version": "0.9.11", "timestamp": 1.0}"#);

    // Join: publish heartbeats until the client has seen one (a bounded
    // wait: the deadline only ends a join that never happens).
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(
            Instant::now() < deadline,
            "the client never joined the publisher"
        );
        publisher.send_line(&json!({"frames_hex": [topic(1001), heartbeat]}));
        let mut liveness = client.liveness();
        let waited = tokio::time::timeout(
            Duration::from_millis(200),
            liveness.wait_for(|l| l.state == LinkState::Online),
        )
        .await;
        match waited {
            Ok(Ok(_)) => break,
            Ok(Err(closed)) => panic!("the liveness channel closed while joining: {closed}"),
            Err(_) => {} // not online yet: publish another heartbeat
        }
    }

    let garbage: Vec<Vec<String>> = vec![
        vec![hex(b"xyz")],                            // one frame, no topic
        vec![topic(4001), hex(b"{}"), hex(b"extra")], // three frames
        vec![hex(b"abc"), hex(b"{}")],                // 3-byte topic
        vec![topic(4001), hex(b"{not json")],         // invalid JSON
        vec![topic(4001), "fffe00".into()],           // invalid UTF-8
        vec![topic(1001), hex(b"[1, 2]")],            // wrong shape
        vec![topic(6001), hex(b"{\"nonce\": 1}")],    // result without "result"
        vec![topic(7777), hex(b"{\"fine\": true}")],  // unknown topic
        vec![
            topic(4001),
            hex(br#"{"kind": 301, "when": 2.0, "index": 9, "context": null}"#),
        ],
    ];
    for frames in &garbage {
        publisher.send_line(&json!({ "frames_hex": frames }));
    }

    let mut reasons = Vec::new();
    loop {
        match next_non_heartbeat(&mut stream).await {
            DeviceMessage::Event(e) if e.kind == ApiEventKind::AcquisitionStarted => break,
            DeviceMessage::Raw(raw) => reasons.push(raw.reason),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(reasons.len(), 8, "{reasons:?}");
    assert_eq!(reasons[0], RawReason::TopicFrame);
    assert_eq!(reasons[1], RawReason::FrameCount(3));
    assert_eq!(reasons[2], RawReason::TopicFrame);
    for reason in &reasons[3..7] {
        assert!(matches!(reason, RawReason::Body(_)), "{reason:?}");
    }
    assert_eq!(reasons[7], RawReason::UnknownTopic);
    let stats = client.stats();
    assert_eq!(stats.raw_messages, 8);
    assert_eq!(stats.malformed_messages, 7);
    assert_eq!(client.liveness().borrow().state, LinkState::Online);
    publisher.close_stdin();
    publisher.wait_exit(WAIT).expect("pub exits");
}

// ---------------------------------------------------------------------------
// Against the Python reference service
// ---------------------------------------------------------------------------

fn start_reference() -> ReferenceService {
    let answers = json!({
        "400": {"result": 100, "data": {"app_status": 0, "training_mode": 0, "animal_id": "m1"}},
        "300": {"result": 100, "data": {"cage_name": "c1"}},
        "100": {"result": 201},
        "110": {"result": 400, "error_code": 3, "error_message": "idle"},
        "200": {"result": 100},
        "210": {"raise": "stuck"},
        "99999": {"result": 0},
    });
    start_reference_service(
        "0.3",
        Some(&answers),
        &["--identifier", "python-rig"],
        STARTUP,
    )
}

#[tokio::test]
async fn the_client_commands_and_follows_the_python_reference_service() {
    let ReferenceService {
        process: mut reference,
        pub_port,
        cmd_port,
    } = start_reference();
    let client = DeviceClient::connect(client_options(pub_port, cmd_port)).unwrap();
    let mut stream = client.subscribe();
    wait_online(&client, "python-rig").await;

    let status = client
        .send_command(ApiCommand::GetStatus, None)
        .await
        .unwrap();
    assert_eq!(status.result, ApiCommandRequestResult::Success);
    assert_eq!(
        status.data,
        Some(json!({"app_status": 0, "training_mode": 0, "animal_id": "m1"}))
    );
    let config = client
        .send_command(ApiCommand::GetConfiguration, None)
        .await
        .unwrap();
    assert_eq!(config.data, Some(json!({"cage_name": "c1"})));
    let ping = client.send_command(ApiCommand::None, None).await.unwrap();
    assert_eq!(ping.result, ApiCommandRequestResult::Success);
    let stop = client
        .send_command(ApiCommand::StopAcquisition, None)
        .await
        .unwrap();
    assert_eq!(stop.result, ApiCommandRequestResult::Failed);
    assert_eq!(stop.error_kind, ApiCommandRequestErrorKind::CommandError);
    assert_eq!(stop.error_message.as_deref(), Some("idle"));
    let estop = client
        .send_command(ApiCommand::EmergencyStop, Some(json!({"reason": "door"})))
        .await
        .unwrap();
    assert_eq!(estop.result, ApiCommandRequestResult::Success);
    let resume = client
        .send_command(ApiCommand::EmergencyResume, None)
        .await
        .unwrap();
    assert_eq!(resume.result, ApiCommandRequestResult::Exception);
    assert_eq!(resume.error_message.as_deref(), Some("stuck"));
    let custom = client
        .send(CommandCall::new(ApiCommand::UserDefined).custom_command(5))
        .await
        .unwrap();
    assert_eq!(custom.result, ApiCommandRequestResult::Unrecognized);
    let unknown = client
        .send_command(ApiCommand::Unknown(12345), None)
        .await
        .unwrap();
    assert_eq!(unknown.result, ApiCommandRequestResult::Unrecognized);

    // The delegate saw every request with the client's nonces and data.
    let seen = reference
        .wait_for(WAIT, |v| v["request"]["command"] == 200)
        .expect("the reference logged EMERGENCY_STOP");
    assert_eq!(seen["request"]["nonce"], estop.nonce);
    assert_eq!(seen["request"]["data"], json!({"reason": "door"}));

    // A pending command: 201 now, the COMMAND_RESULT published by the app.
    let start = client
        .send_command(ApiCommand::StartAcquisition, None)
        .await
        .unwrap();
    assert_eq!(
        start.result,
        ApiCommandRequestResult::PendingWithNotification
    );
    assert_eq!(client.awaited_commands()[0].nonce, start.nonce);
    reference.send_line(&json!({"send_dict": {"topic": 6001, "message": {
        "result": 100, "data": {"file_name": "run1"}, "errorCode": 0,
        "errorMessage": null, "command": 100, "nonce": start.nonce}}}));
    let result = client.wait_for_result(start.nonce, WAIT).await.unwrap();
    assert_eq!(result.result, ApiCommandRequestResult::Success);
    assert_eq!(result.command, ApiCommand::StartAcquisition);
    assert_eq!(result.data, Some(json!({"file_name": "run1"})));
    assert!(client.awaited_commands().is_empty());

    // An event published by the reference arrives typed, with its kind.
    reference.send_line(&json!({"send_dict": {"topic": 4001, "message": {
        "kind": 1101, "when": 1.5, "index": 7, "context": null}}}));
    loop {
        match next_non_heartbeat(&mut stream).await {
            DeviceMessage::Event(e) => {
                assert_eq!(e.kind, ApiEventKind::TunnelEnter);
                assert_eq!(e.kind.name(), Some("tunnelEnter"));
                break;
            }
            DeviceMessage::CommandResult(_) => continue,
            other => panic!("{other:?}"),
        }
    }

    reference.send_line(&json!({"stop": true}));
    reference.wait_exit(WAIT).expect("the reference exits");
    wait_liveness(&client, "offline", |l| l.state == LinkState::Offline).await;
}

/// A relay's view: a request forwarded as bytes gets the very bytes a REQ
/// socket gets for it; a pending result is awaitable as for `send`; bytes
/// that are no request never reach the device; the frames of published
/// messages come unchanged.
#[tokio::test]
async fn forwarded_requests_and_received_frames_are_the_devices_bytes() {
    let service = our_service("rig-relay", 0, 0, None);
    let client = connect_to(&service);
    let mut frames = client.subscribe_frames();
    wait_online(&client, "rig-relay").await;

    let context = zmq::Context::new();
    let req = context.socket(zmq::REQ).unwrap();
    req.connect(&format!("tcp://127.0.0.1:{}", service.command_port()))
        .unwrap();
    let request = br#"{"command": 400,  "nonce": 31, "data": null}"#;
    req.send(&request[..], 0).unwrap();
    let direct = req.recv_bytes(0).unwrap();
    let forwarded = client
        .forward(request.to_vec(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(forwarded.bytes, direct);
    assert_eq!(forwarded.reply.unwrap().nonce, 31);

    let start = br#"{"command": 100, "nonce": 32, "data": {"animalId": "m 1"}}"#;
    let pending = client
        .forward(start.to_vec(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        pending.reply.unwrap().result,
        ApiCommandRequestResult::PendingWithNotification
    );
    let result = client
        .wait_for_result(32, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(result.result, ApiCommandRequestResult::Success);

    let requests_before = service.stats().requests;
    assert!(matches!(
        client.forward(b"{\"nonce\": 1}".to_vec(), Duration::from_secs(5)).await,
        Err(Error::InvalidRequest(why)) if why.contains("command")
    ));
    assert_eq!(service.stats().requests, requests_before);

    service
        .publish_bytes(ApiTopic::PropertyChange, b"{\"animalId\":  \"x\"}".to_vec())
        .unwrap();
    let property = loop {
        let received = tokio::time::timeout(Duration::from_secs(10), frames.recv())
            .await
            .expect("frames in time")
            .expect("the stream is open");
        if received.frames[0] == ApiTopic::PropertyChange.to_frame() {
            break received;
        }
    };
    assert_eq!(property.frames[1], b"{\"animalId\":  \"x\"}");
    service.stop();
}
