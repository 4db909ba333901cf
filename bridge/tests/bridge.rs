//! The bridge end to end, with real processes only: the
//! `auto-trainer-bridge` binary on ports the OS picked (read back from its
//! ready line), a python-socketio 5.x client playing the device
//! (`tests/python/sio_device.py`, real long-polling and WebSocket
//! transports), and pyzmq REQ and SUB peers (`tests/python/zmq_peer.py`),
//! all from the bridge's venv (`scripts/python-test-env.sh bridge`).
//!
//! No test asserts a duration: every wait is for a message, under a
//! generous deadline that only turns a hang into a failure. "Not blocked"
//! is proved by order: the device answers a held command only after other
//! peers' replies came.
//!
//! Run: `cargo test -p auto-trainer-bridge`.

#[path = "../../tests/common"]
mod common {
    pub mod examples;
    pub mod python;
}

use std::collections::VecDeque;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::examples::{read_lines, wait_child};
use common::python::{python_bridge, spawn_zmq_sub_with, PyProcess};

/// The deadline of every wait for a message.
const WAIT: Duration = Duration::from_secs(30);

/// The binary under test.
const BRIDGE: &str = env!("CARGO_BIN_EXE_auto-trainer-bridge");

/// A command timeout no test waits out: the device answers when the test says.
const PATIENT: &str = "120";

const HEARTBEAT: u32 = 1001;
const EMERGENCY: u32 = 2001;
const EVENT: u32 = 4001;
const COMMAND_RESULT: u32 = 6001;

const GET_STATUS: i64 = 400;
const EMERGENCY_STOP: i64 = 200;
const SET_APPLICATION_MODE: i64 = 120;

const SUCCESS: i64 = 100;
const PENDING_WITH_NOTIFICATION: i64 = 201;
const FAILED: i64 = 400;
const UNAVAILABLE: i64 = 9999;

const ALLOWED_ORIGIN: &str = "http://trainer.lab.example";
const OTHER_ORIGIN: &str = "http://elsewhere.example";

/// `auto-trainer-bridge` on 127.0.0.1, every port picked by the OS.
struct BridgeProcess {
    child: Child,
    http_port: u16,
    pub_port: u16,
    cmd_port: u16,
    _log: Receiver<String>,
}

impl BridgeProcess {
    /// Starts it with `extra` flags after the common ones and waits for its
    /// ready line.
    fn start(extra: &[&str]) -> BridgeProcess {
        let mut child = Command::new(BRIDGE)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(["--pub-port", "0", "--cmd-port", "0", "--bind", "127.0.0.1"])
            .args([
                "--heartbeat-interval",
                "0.2",
                "--identifier",
                "bridge-under-test",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BRIDGE}: {e}"));
        let log = read_lines(child.stderr.take().expect("piped stderr"), "bridge");
        let stdout = read_lines(child.stdout.take().expect("piped stdout"), "bridge stdout");
        let ready: Value = stdout
            .recv_timeout(WAIT)
            .map(|line| serde_json::from_str(&line).expect("the ready line is JSON"))
            .unwrap_or_else(|_| panic!("no ready line within {WAIT:?}"));
        assert_eq!(ready["ready"], json!(true), "{ready}");
        let port = |key: &str| {
            ready[key]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0)
                .unwrap_or_else(|| panic!("no {key} in the ready line {ready}"))
        };
        BridgeProcess {
            http_port: port("http_port"),
            pub_port: port("pub_port"),
            cmd_port: port("cmd_port"),
            child,
            _log: log,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    fn cmd_endpoint(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.cmd_port)
    }

    /// A pyzmq REQ peer of its command port.
    fn peer(&self) -> Peer {
        Peer(PyProcess::spawn_with(
            python_bridge(),
            "zmq_peer",
            &["req", "--endpoint", &self.cmd_endpoint(), "--timeout", "60"],
        ))
    }

    /// A pyzmq SUB peer of its PUB port, subscribed to `topics` and to
    /// heartbeats, returned once a heartbeat came through (so the
    /// subscription is in place).
    fn subscriber(&self, topics: &[u32]) -> Subscriber {
        let mut all = topics.to_vec();
        all.push(HEARTBEAT);
        let endpoint = format!("tcp://127.0.0.1:{}", self.pub_port);
        let process = spawn_zmq_sub_with(python_bridge(), &endpoint, 1_000_000, 600, &all);
        process.expect_ready(WAIT);
        let subscriber = Subscriber(process);
        subscriber.next(|topic, _| topic == HEARTBEAT);
        subscriber
    }

    /// SIGTERM, then waits for the exit; its exit code.
    fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        wait_child(&mut self.child, WAIT)
            .unwrap_or_else(|| panic!("the bridge did not exit within {WAIT:?} of SIGTERM"))
            .code()
    }
}

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A ZeroMQ REQ peer: one request at a time.
struct Peer(PyProcess);

impl Peer {
    fn send(&mut self, request: Value) {
        self.0.send_line(&json!({"text": request.to_string()}));
    }

    /// The reply to the request sent, as JSON.
    fn reply(&self) -> Value {
        let line = self
            .0
            .next_line(WAIT)
            .unwrap_or_else(|| panic!("no reply within {WAIT:?}"));
        let text = line["reply"]
            .as_str()
            .unwrap_or_else(|| panic!("not a reply: {line}"));
        serde_json::from_str(text).unwrap_or_else(|e| panic!("reply {text:?}: {e}"))
    }

    fn request(&mut self, request: Value) -> Value {
        self.send(request);
        self.reply()
    }
}

/// A ZeroMQ SUB peer.
struct Subscriber(PyProcess);

impl Subscriber {
    /// The next message for which `wanted(topic, body)` holds, as
    /// `(topic, body)`; earlier ones are skipped.
    fn next(&self, mut wanted: impl FnMut(u32, &Value) -> bool) -> (u32, Value) {
        let mut found = None;
        self.0.wait_for(WAIT, |line| {
            let topic = line["topic"].as_u64().unwrap_or(0) as u32;
            let body = line["body"]
                .as_str()
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or(Value::Null);
            let hit = wanted(topic, &body);
            if hit {
                found = Some((topic, body));
            }
            hit
        });
        found.unwrap_or_else(|| panic!("no such message within {WAIT:?}"))
    }

    /// The next message that is not a heartbeat.
    fn next_message(&self) -> (u32, Value) {
        self.next(|topic, _| topic != HEARTBEAT)
    }
}

/// The python-socketio client playing the device.
struct Device {
    process: PyProcess,
    next_id: u64,
    /// Lines that came while the test waited for something else.
    events: VecDeque<Value>,
}

impl Device {
    fn spawn() -> Device {
        Device {
            process: PyProcess::spawn_with(python_bridge(), "sio_device", &[] as &[&str]),
            next_id: 0,
            events: VecDeque::new(),
        }
    }

    /// A device connected to `bridge` (no Origin: not a browser).
    fn connected(bridge: &BridgeProcess) -> Device {
        let mut device = Device::spawn();
        let outcome = device.connect(bridge, None, None);
        assert_eq!(outcome["connected"], json!(true), "{outcome}");
        device
    }

    /// Sends `request` (an object with `op`) and returns its answer; the
    /// events that come meanwhile are kept for [`Device::event`].
    fn call(&mut self, mut request: Value) -> Value {
        self.next_id += 1;
        let id = json!(self.next_id);
        request["id"] = id.clone();
        self.process.send_line(&request);
        let deadline = Instant::now() + WAIT * 2;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let line = self
                .process
                .next_line(remaining)
                .unwrap_or_else(|| panic!("sio_device did not answer {request}"));
            if line["id"] == id {
                return line;
            }
            self.events.push_back(line);
        }
    }

    fn connect(
        &mut self,
        bridge: &BridgeProcess,
        origin: Option<&str>,
        transports: Option<&[&str]>,
    ) -> Value {
        let mut request = json!({"op": "connect", "url": bridge.url()});
        if let Some(origin) = origin {
            request["origin"] = json!(origin);
        }
        if let Some(transports) = transports {
            request["transports"] = json!(transports);
        }
        self.call(request)
    }

    fn disconnect(&mut self) {
        let answer = self.call(json!({"op": "disconnect"}));
        assert_eq!(answer["disconnected"], json!(true), "{answer}");
    }

    /// Emits `event` and returns the bridge's acknowledgement.
    fn emit_ack(&mut self, event: &str, data: Value) -> Value {
        let answer = self.call(json!({"op": "emit", "event": event, "data": data, "ack": true}));
        answer
            .get("ack")
            .cloned()
            .unwrap_or_else(|| panic!("no acknowledgement of {event}: {answer}"))
    }

    /// The data of the next `name` event; other events before it are
    /// skipped.
    fn event(&mut self, name: &str) -> Value {
        if let Some(at) = self.events.iter().position(|line| line["event"] == name) {
            let line = self.events.remove(at).expect("found");
            self.events.drain(..at);
            return line["data"].clone();
        }
        self.events.clear();
        let line = self
            .process
            .wait_for(WAIT, |line| line["event"] == name)
            .unwrap_or_else(|| panic!("no {name} event within {WAIT:?}"));
        line["data"].clone()
    }

    /// Waits for the `commandRequest` of `nonce` and returns it.
    fn command_request(&mut self, nonce: i64) -> Value {
        let request = self.event("commandRequest");
        assert_eq!(request["nonce"], json!(nonce), "{request}");
        request
    }

    /// Answers the command `nonce`; the bridge must take the answer.
    fn answer(&mut self, nonce: i64, result: i64, data: Value) {
        let ack = self.emit_ack(
            "commandResult",
            json!({"nonce": nonce, "result": result, "data": data, "errorCode": 0, "errorMessage": null}),
        );
        assert_eq!(ack, json!({"ok": true}), "answer to nonce {nonce}");
    }

    /// An HTTP request with the client's `requests`.
    fn http(&mut self, method: &str, url: &str, headers: Value) -> Value {
        self.call(json!({"op": "http", "method": method, "url": url, "headers": headers}))
    }
}

/// Disconnects `device` while it holds a command of `peer` (`nonce`), and
/// returns once the bridge has let it go: that command's FAILED reply comes
/// after the bridge freed the client's place, so a new client may connect.
fn disconnect_and_wait(device: &mut Device, peer: &mut Peer, nonce: i64) {
    peer.send(request(GET_STATUS, nonce));
    device.command_request(nonce);
    device.disconnect();
    let reply = peer.reply();
    assert_eq!(reply["nonce"], json!(nonce), "{reply}");
    assert_eq!(
        reply["errorMessage"],
        json!("Socket.IO client disconnected."),
        "{reply}"
    );
}

/// A request of `command` with `nonce`.
fn request(command: i64, nonce: i64) -> Value {
    json!({"command": command, "nonce": nonce})
}

#[test]
fn health_answers_ok() {
    let bridge = BridgeProcess::start(&[]);
    let mut client = Device::spawn();
    let answer = client.http("GET", &format!("{}/health", bridge.url()), json!({}));
    assert_eq!(answer["status"], json!(200), "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"status": "ok"}));
}

#[test]
fn without_a_client_commands_are_unavailable() {
    let bridge = BridgeProcess::start(&[]);
    let mut peer = bridge.peer();
    let reply = peer.request(request(GET_STATUS, 5));
    assert_eq!(reply["result"], json!(UNAVAILABLE), "{reply}");
    assert_eq!(
        reply["errorMessage"],
        json!("No Socket.IO client connected.")
    );
    assert_eq!(
        (reply["nonce"].clone(), reply["command"].clone()),
        (json!(5), json!(GET_STATUS))
    );
}

#[test]
fn a_command_answered_at_once_is_the_reply() {
    let bridge = BridgeProcess::start(&["--command-timeout", PATIENT]);
    let mut device = Device::connected(&bridge);
    let mut peer = bridge.peer();

    peer.send(json!({"command": SET_APPLICATION_MODE, "nonce": 11, "data": {"applicationMode": 100}, "customCommand": 7}));
    let forwarded = device.command_request(11);
    assert_eq!(
        forwarded,
        json!({"command": SET_APPLICATION_MODE, "customCommand": 7, "nonce": 11, "data": {"applicationMode": 100}})
    );
    device.answer(
        11,
        SUCCESS,
        json!({"applicationMode": 100, "animalId": "m-001"}),
    );
    let reply = peer.reply();
    assert_eq!(
        reply,
        json!({"nonce": 11, "command": SET_APPLICATION_MODE, "result": SUCCESS,
               "data": {"applicationMode": 100, "animalId": "m-001"},
               "errorKind": 0, "errorCode": 0, "errorMessage": null})
    );

    // A command number the generation does not know is forwarded as sent.
    peer.send(request(4242, 12));
    assert_eq!(device.command_request(12)["command"], json!(4242));
    let ack = device.emit_ack(
        "commandResult",
        json!({"nonce": 12, "result": FAILED, "errorCode": 17, "errorMessage": "not here"}),
    );
    assert_eq!(ack, json!({"ok": true}));
    let reply = peer.reply();
    assert_eq!(reply["command"], json!(4242), "{reply}");
    assert_eq!(reply["result"], json!(FAILED));
    assert_eq!(
        (reply["errorKind"].clone(), reply["errorCode"].clone()),
        (json!(2), json!(17))
    );
    assert_eq!(reply["errorMessage"], json!("not here"));
}

#[test]
fn a_command_never_answered_gets_the_timeout_reply_and_the_late_answer_is_refused() {
    let bridge = BridgeProcess::start(&["--command-timeout", "0.3"]);
    let mut device = Device::connected(&bridge);
    let mut peer = bridge.peer();

    peer.send(request(GET_STATUS, 21));
    device.command_request(21);
    let reply = peer.reply();
    assert_eq!(reply["result"], json!(FAILED), "{reply}");
    assert_eq!(reply["nonce"], json!(21));
    assert_eq!(
        reply["errorKind"],
        json!(1),
        "a timeout is a system error: {reply}"
    );
    assert_eq!(reply["errorCode"], json!(408), "{reply}");

    let ack = device.emit_ack("commandResult", json!({"nonce": 21, "result": SUCCESS}));
    assert_eq!(ack["ok"], json!(false), "{ack}");
    assert!(
        ack["error"].as_str().unwrap().contains("timed out"),
        "{ack}"
    );
    let notice = device.event("bridgeError");
    assert_eq!(notice["event"], json!("commandResult"));
    assert_eq!(notice["nonce"], json!(21));

    // And it goes on serving.
    peer.send(request(GET_STATUS, 22));
    device.command_request(22);
    device.answer(22, SUCCESS, json!({"ok": 1}));
    assert_eq!(peer.reply()["result"], json!(SUCCESS));
}

#[test]
fn a_held_command_keeps_no_other_peer_waiting() {
    let bridge = BridgeProcess::start(&["--command-timeout", PATIENT]);
    let mut device = Device::connected(&bridge);
    let (mut first, mut second, mut third) = (bridge.peer(), bridge.peer(), bridge.peer());

    first.send(request(GET_STATUS, 1));
    device.command_request(1);
    // The device holds nonce 1 while two other peers are served.
    second.send(request(GET_STATUS, 2));
    device.command_request(2);
    device.answer(2, SUCCESS, json!({"peer": 2}));
    let reply = second.reply();
    assert_eq!(
        (reply["nonce"].clone(), reply["result"].clone()),
        (json!(2), json!(SUCCESS))
    );

    third.send(json!({"command": EMERGENCY_STOP, "nonce": 3, "data": {"reason": "door open"}}));
    let stop = device.command_request(3);
    assert_eq!(stop["data"], json!({"reason": "door open"}));
    device.answer(3, SUCCESS, Value::Null);
    let reply = third.reply();
    assert_eq!(
        (reply["nonce"].clone(), reply["result"].clone()),
        (json!(3), json!(SUCCESS))
    );

    // Only now is the first command answered: its reply is that answer,
    // so it was waiting all along, without holding up the others.
    device.answer(1, SUCCESS, json!({"peer": 1}));
    let reply = first.reply();
    assert_eq!(reply["nonce"], json!(1), "{reply}");
    assert_eq!(reply["result"], json!(SUCCESS), "{reply}");
    assert_eq!(reply["data"], json!({"peer": 1}), "{reply}");
}

#[test]
fn a_pending_command_replies_201_then_publishes_its_result() {
    let bridge = BridgeProcess::start(&["--command-timeout", PATIENT]);
    let results = bridge.subscriber(&[COMMAND_RESULT]);
    let mut device = Device::connected(&bridge);
    let mut peer = bridge.peer();

    peer.send(json!({"command": SET_APPLICATION_MODE, "nonce": 31, "data": {"mode": 100}}));
    device.command_request(31);
    device.answer(31, PENDING_WITH_NOTIFICATION, Value::Null);
    let reply = peer.reply();
    assert_eq!(reply["result"], json!(PENDING_WITH_NOTIFICATION), "{reply}");
    assert_eq!(reply["nonce"], json!(31));

    // 201 again is not a result.
    let ack = device.emit_ack(
        "commandResult",
        json!({"nonce": 31, "result": PENDING_WITH_NOTIFICATION}),
    );
    assert_eq!(ack["ok"], json!(false), "{ack}");

    device.answer(31, SUCCESS, json!({"mode": 100}));
    let (topic, result) = results.next_message();
    assert_eq!(topic, COMMAND_RESULT);
    assert_eq!(
        result,
        json!({"result": SUCCESS, "data": {"mode": 100}, "errorCode": 0, "errorMessage": null,
               "command": SET_APPLICATION_MODE, "nonce": 31})
    );

    // Its result went out: a second one is refused.
    let ack = device.emit_ack("commandResult", json!({"nonce": 31, "result": SUCCESS}));
    assert_eq!(ack["ok"], json!(false), "{ack}");
}

#[test]
fn a_client_that_disconnects_has_its_commands_answered_at_once() {
    let bridge = BridgeProcess::start(&["--command-timeout", PATIENT]);
    let results = bridge.subscriber(&[COMMAND_RESULT]);
    let mut device = Device::connected(&bridge);
    let (mut pending, mut waiting) = (bridge.peer(), bridge.peer());

    pending.send(request(SET_APPLICATION_MODE, 41));
    device.command_request(41);
    device.answer(41, PENDING_WITH_NOTIFICATION, Value::Null);
    assert_eq!(pending.reply()["result"], json!(PENDING_WITH_NOTIFICATION));
    waiting.send(request(GET_STATUS, 42));
    device.command_request(42);

    device.disconnect();
    let reply = waiting.reply();
    assert_eq!(reply["result"], json!(FAILED), "{reply}");
    assert_eq!(
        reply["errorMessage"],
        json!("Socket.IO client disconnected.")
    );
    let (_, result) = results.next_message();
    assert_eq!(result["nonce"], json!(41), "{result}");
    assert_eq!(result["result"], json!(FAILED), "{result}");
    assert_eq!(
        result["errorMessage"],
        json!("Socket.IO client disconnected.")
    );

    // Its place is free again: no client, then a new one.
    assert_eq!(
        waiting.request(request(GET_STATUS, 43))["result"],
        json!(UNAVAILABLE)
    );
    let mut next = Device::connected(&bridge);
    waiting.send(request(GET_STATUS, 44));
    next.command_request(44);
    next.answer(44, SUCCESS, Value::Null);
    assert_eq!(waiting.reply()["result"], json!(SUCCESS));
}

#[test]
fn a_second_client_is_refused_while_the_first_keeps_working() {
    let bridge = BridgeProcess::start(&["--command-timeout", PATIENT]);
    let mut first = Device::connected(&bridge);
    let mut second = Device::spawn();
    let outcome = second.connect(&bridge, None, None);
    assert_eq!(outcome["connected"], json!(false), "{outcome}");
    let message = outcome["connect_error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{outcome}"));
    assert!(
        message.contains("already has its Socket.IO client"),
        "{message}"
    );

    let mut peer = bridge.peer();
    peer.send(request(GET_STATUS, 51));
    first.command_request(51);
    first.answer(51, SUCCESS, json!({"by": "first"}));
    assert_eq!(peer.reply()["data"], json!({"by": "first"}));

    // Once the first is gone, the second may come.
    disconnect_and_wait(&mut first, &mut peer, 53);
    let outcome = second.connect(&bridge, None, Some(&["websocket"]));
    assert_eq!(outcome["connected"], json!(true), "{outcome}");
    peer.send(request(GET_STATUS, 52));
    second.command_request(52);
    second.answer(52, SUCCESS, json!({"by": "second"}));
    assert_eq!(peer.reply()["data"], json!({"by": "second"}));
}

#[test]
fn events_of_0_12_are_published() {
    let bridge = BridgeProcess::start(&["--protocol", "0.12"]);
    let events = bridge.subscriber(&[EVENT, EMERGENCY]);
    let mut device = Device::connected(&bridge);

    let ack = device.emit_ack(
        "sendApiEvent",
        json!({"kind": 301, "context": {"mode": 100}}),
    );
    assert_eq!(ack, json!({"ok": true}));
    let (topic, event) = events.next_message();
    assert_eq!(topic, EVENT);
    assert_eq!(
        (event["kind"].clone(), event["context"].clone()),
        (json!(301), json!({"mode": 100}))
    );
    assert_eq!(
        event["repeat"],
        json!(0),
        "0.12 events carry repeat: {event}"
    );
    assert!(event["when"].is_f64() && event["index"].is_i64(), "{event}");

    // By name, with the app's own times; an emergency goes out on EMERGENCY first.
    let stop = json!({"reason": "door open", "reasonCode": 0, "activeAlarms": []});
    let ack = device.emit_ack(
        "sendApiEvent",
        json!({"kind": "emergencyStop", "context": stop, "when": 1795265092.5, "index": 77}),
    );
    assert_eq!(ack, json!({"ok": true}));
    for expected in [EMERGENCY, EVENT] {
        let (topic, event) = events.next_message();
        assert_eq!(topic, expected);
        assert_eq!(
            event,
            json!({"kind": 101, "when": 1795265092.5, "index": 77, "context": stop, "repeat": 0})
        );
    }
}

#[test]
fn events_of_0_9_are_published() {
    let bridge = BridgeProcess::start(&["--protocol", "0.9"]);
    let events = bridge.subscriber(&[EVENT]);
    let mut device = Device::connected(&bridge);

    // 301 is acquisitionStarted in 0.9.11, with a context of the app's own.
    let ack = device.emit_ack(
        "sendApiEvent",
        json!({"kind": 301, "context": {"animalId": "m-001", "acquisitionId": "a-1"}}),
    );
    assert_eq!(ack, json!({"ok": true}));
    let (_, event) = events.next_message();
    assert_eq!(event["kind"], json!(301));
    assert_eq!(
        event["context"],
        json!({"animalId": "m-001", "acquisitionId": "a-1"})
    );
    assert!(
        event.get("repeat").is_none(),
        "0.9.11 events have no repeat: {event}"
    );
}

#[test]
fn a_malformed_event_is_refused_with_the_reason_and_the_bridge_keeps_serving() {
    let bridge = BridgeProcess::start(&["--protocol", "0.12", "--command-timeout", PATIENT]);
    let events = bridge.subscriber(&[EVENT, EMERGENCY]);
    let mut device = Device::connected(&bridge);

    for (payload, reason) in [
        (json!("trialStarted"), "not a string"),
        (json!({"context": {}}), "no 'kind'"),
        (
            json!({"kind": 424242}),
            "not an event kind of protocol 0.12.0",
        ),
        (
            json!({"kind": 301, "context": {"mode": "fast"}}),
            "not its protocol 0.12.0 type",
        ),
        (
            json!({"kind": 101, "context": {"reason": "no code"}}),
            "not its protocol 0.12.0 type",
        ),
        (json!({"kind": 1101, "context": 5}), "object or null"),
    ] {
        let ack = device.emit_ack("sendApiEvent", payload.clone());
        assert_eq!(ack["ok"], json!(false), "{payload}: {ack}");
        let error = ack["error"].as_str().unwrap_or_default();
        assert!(error.contains(reason), "{payload}: {error}");
        let notice = device.event("bridgeError");
        assert_eq!(notice, json!({"event": "sendApiEvent", "error": error}));
    }
    // Sent without asking for an acknowledgement: told by the event alone.
    device.call(json!({"op": "emit", "event": "sendApiEvent", "data": [1, 2]}));
    assert!(device.event("bridgeError")["error"]
        .as_str()
        .unwrap()
        .contains("not an array"));

    // Nothing refused was published: the next message is this fence.
    let ack = device.emit_ack("sendApiEvent", json!({"kind": "tunnelEnter"}));
    assert_eq!(ack, json!({"ok": true}));
    let (topic, event) = events.next_message();
    assert_eq!(
        (topic, event["kind"].clone(), event["context"].clone()),
        (EVENT, json!(1101), Value::Null)
    );

    // Commands still go through.
    let mut peer = bridge.peer();
    peer.send(request(GET_STATUS, 61));
    device.command_request(61);
    device.answer(61, SUCCESS, Value::Null);
    assert_eq!(peer.reply()["result"], json!(SUCCESS));
}

#[test]
fn only_allowed_origins_reach_the_bridge_on_either_transport() {
    let bridge = BridgeProcess::start(&[
        "--allowed-origin",
        ALLOWED_ORIGIN,
        "--command-timeout",
        PATIENT,
    ]);
    let mut client = Device::spawn();
    let polling = format!("{}/socket.io/?EIO=4&transport=polling", bridge.url());
    let websocket = format!(
        "ws://127.0.0.1:{}/socket.io/?EIO=4&transport=websocket",
        bridge.http_port
    );

    // Long-polling: refused with the reason; allowed with CORS headers naming the origin.
    let refused = client.http("GET", &polling, json!({"Origin": OTHER_ORIGIN}));
    assert_eq!(refused["status"], json!(403), "{refused}");
    assert!(
        refused["body"].as_str().unwrap().contains("is not allowed"),
        "{refused}"
    );
    let allowed = client.http("GET", &polling, json!({"Origin": ALLOWED_ORIGIN}));
    assert_eq!(allowed["status"], json!(200), "{allowed}");
    assert_eq!(
        allowed["headers"]["access-control-allow-origin"],
        json!(ALLOWED_ORIGIN)
    );
    assert_eq!(
        allowed["headers"]["access-control-allow-credentials"],
        json!("true")
    );
    let preflight = client.http(
        "OPTIONS",
        &polling,
        json!({"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST"}),
    );
    assert_eq!(
        preflight["headers"]["access-control-allow-origin"],
        json!(ALLOWED_ORIGIN),
        "{preflight}"
    );
    let preflight = client.http(
        "OPTIONS",
        &polling,
        json!({"Origin": OTHER_ORIGIN, "Access-Control-Request-Method": "POST"}),
    );
    assert_eq!(preflight["status"], json!(403), "{preflight}");

    // The WebSocket upgrade, where browsers apply no CORS: refused too.
    let refused =
        client.call(json!({"op": "ws_handshake", "url": websocket, "origin": OTHER_ORIGIN}));
    assert_eq!(refused["status"], json!(403), "{refused}");
    let accepted =
        client.call(json!({"op": "ws_handshake", "url": websocket, "origin": ALLOWED_ORIGIN}));
    assert_eq!(accepted["status"], json!(101), "{accepted}");

    // A whole Socket.IO client from elsewhere cannot connect, on either transport.
    let outcome = client.connect(&bridge, Some(OTHER_ORIGIN), None);
    assert_eq!(outcome["connected"], json!(false), "{outcome}");
    assert!(
        outcome["connect_error"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("is not allowed"),
        "{outcome}"
    );
    let outcome = client.connect(&bridge, Some(OTHER_ORIGIN), Some(&["websocket"]));
    assert_eq!(outcome["connected"], json!(false), "{outcome}");

    // From the allowed origin it connects and serves, over WebSocket then over long-polling.
    let mut peer = bridge.peer();
    for (nonce, transports) in [(71, ["websocket"].as_slice()), (72, ["polling"].as_slice())] {
        let mut device = Device::spawn();
        let outcome = device.connect(&bridge, Some(ALLOWED_ORIGIN), Some(transports));
        assert_eq!(
            outcome["connected"],
            json!(true),
            "{transports:?}: {outcome}"
        );
        peer.send(request(GET_STATUS, nonce));
        device.command_request(nonce);
        device.answer(nonce, SUCCESS, Value::Null);
        assert_eq!(peer.reply()["result"], json!(SUCCESS));
        disconnect_and_wait(&mut device, &mut peer, nonce + 10);
    }
}

#[test]
fn with_keys_unsigned_commands_are_refused() {
    let keys = std::env::temp_dir().join(format!("bridge-keys-{}.toml", std::process::id()));
    std::fs::write(
        &keys,
        "[[key]]\nid = \"ops-1\"\nsecret = \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"\nrole = \"operator\"\n\n[roles]\noperator = [\"*\"]\n",
    )
    .expect("write the key file");
    let bridge = BridgeProcess::start(&["--keys", keys.to_str().unwrap()]);
    let _device = Device::connected(&bridge);
    let reply = bridge.peer().request(request(GET_STATUS, 81));
    assert_eq!(
        (reply["result"].clone(), reply["errorCode"].clone()),
        (json!(FAILED), json!(401)),
        "{reply}"
    );
    let _ = std::fs::remove_file(&keys);
}

#[test]
fn sigterm_answers_what_is_outstanding_and_exits_0() {
    let mut bridge = BridgeProcess::start(&["--command-timeout", PATIENT]);
    let mut device = Device::connected(&bridge);
    let mut peer = bridge.peer();
    peer.send(request(GET_STATUS, 91));
    device.command_request(91);

    assert_eq!(bridge.terminate(), Some(0));
    let reply = peer.reply();
    assert_eq!(reply["nonce"], json!(91), "{reply}");
    assert_eq!(reply["result"], json!(FAILED), "{reply}");
    assert_eq!(
        reply["errorMessage"],
        json!("Socket.IO client disconnected.")
    );
}
