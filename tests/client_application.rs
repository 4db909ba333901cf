//! The `client_application` example, run as a separate process and driven
//! from outside: by pyzmq peers (`tests/python/zmq_peer.py`) with stdin
//! closed, and by a person at a keyboard simulated in a pseudo-terminal
//! (`tests/python/pty_drive.py`).

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::examples::{built_example, port_after, read_lines, wait_child};
use common::python::{spawn_zmq_sub, PyProcess};
use serde_json::{json, Value};

const STARTUP: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(10);
const EXIT: Duration = Duration::from_secs(15);

const HEARTBEAT: u64 = 1001;
const EMERGENCY: u64 = 2001;
const EVENT: u64 = 4001;
const COMMAND_RESULT: u64 = 6001;

const SUCCESS: i64 = 100;
const PENDING_WITH_NOTIFICATION: i64 = 201;
const FAILED: i64 = 400;
const UNRECOGNIZED: i64 = 0;

fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("cannot run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// Arguments for an app on loopback, on ports the OS picks.
fn app_args(extra: &[&str]) -> Vec<String> {
    app_args_with_pub_port(0, extra)
}

fn app_args_with_pub_port(pub_port: u16, extra: &[&str]) -> Vec<String> {
    let pub_port = pub_port.to_string();
    [
        "--bind",
        "127.0.0.1",
        "--pub-port",
        &pub_port,
        "--cmd-port",
        "0",
        "--identifier",
        "test-rig",
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect()
}

/// The ports an app bound, as it reported them.
struct Ports {
    publisher: u16,
    command: u16,
}

impl Ports {
    /// The ports written after `publisher_label` and `command_label` in `text`.
    fn after(publisher_label: &str, command_label: &str, text: &str) -> Self {
        let port = |label: &str| {
            port_after(label, text).unwrap_or_else(|| panic!("no {label}<port> in {text:?}"))
        };
        Self {
            publisher: port(publisher_label),
            command: port(command_label),
        }
    }

    fn publisher_endpoint(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.publisher)
    }

    fn command_endpoint(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.command)
    }
}

/// The example with stdin closed; stderr (where it logs) collected line by line.
struct App {
    child: Child,
    stderr: Receiver<String>,
    seen: Vec<String>,
}

impl App {
    fn spawn(args: &[String]) -> App {
        let mut child = Command::new(built_example("client_application"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start client_application");
        let stderr = child.stderr.take().expect("piped stderr");
        App {
            child,
            stderr: read_lines(stderr, "client_application"),
            seen: Vec::new(),
        }
    }

    /// Starts the app and waits until its service runs; the ports it bound.
    fn start(args: &[String]) -> (App, Ports) {
        let mut app = App::spawn(args);
        let started = app.expect_log("api service started", STARTUP);
        // api service started identifier=... subscriber_port=N command_port=M
        let ports = Ports::after("subscriber_port=", "command_port=", &started);
        (app, ports)
    }

    /// Waits for a stderr line containing `needle`; panics if none comes.
    fn expect_log(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(remaining) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line containing {needle:?} within {timeout:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// All of stderr until the process closes it (bounded).
    fn rest_of_stderr(&mut self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        while let Ok(line) = self
            .stderr
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
        self.seen.join("\n")
    }

    fn terminate(&self) {
        send_signal(self.child.id(), "TERM");
    }

    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        wait_child(&mut self.child, timeout)
            .unwrap_or_else(|| panic!("client_application did not exit within {timeout:?}"))
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A pyzmq SUB peer subscribed to everything, joined: it has seen a heartbeat.
struct Subscriber(PyProcess);

impl Subscriber {
    fn join(ports: &Ports) -> Subscriber {
        let endpoint = ports.publisher_endpoint();
        let sub = spawn_zmq_sub(&endpoint, 1_000_000, 300, &[]);
        sub.expect_ready(STARTUP);
        let sub = Subscriber(sub);
        sub.expect(HEARTBEAT, STARTUP, |_| true);
        sub
    }

    /// The next message on `topic` whose body satisfies `predicate`; earlier
    /// messages are skipped. Panics if none comes within `timeout`.
    fn expect(&self, topic: u64, timeout: Duration, predicate: impl Fn(&Value) -> bool) -> Value {
        self.try_expect(topic, timeout, predicate)
            .unwrap_or_else(|| panic!("no matching message on topic {topic} within {timeout:?}"))
    }

    fn try_expect(
        &self,
        topic: u64,
        timeout: Duration,
        predicate: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        self.0
            .wait_for(timeout, |line| {
                line["topic"].as_u64() == Some(topic) && predicate(&body(line))
            })
            .map(|line| body(&line))
    }

    /// The next message of any topic except heartbeats: (topic, body).
    fn next_non_heartbeat(&self, timeout: Duration) -> (u64, Value) {
        let line = self
            .0
            .wait_for(timeout, |line| line["topic"].as_u64() != Some(HEARTBEAT))
            .unwrap_or_else(|| panic!("no message within {timeout:?}"));
        (line["topic"].as_u64().expect("topic"), body(&line))
    }
}

fn body(line: &Value) -> Value {
    line["body"]
        .as_str()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null)
}

/// A pyzmq REQ peer.
struct Requester(PyProcess);

impl Requester {
    fn connect(ports: &Ports) -> Requester {
        let endpoint = ports.command_endpoint();
        Requester(PyProcess::spawn(
            "zmq_peer",
            &["req", "--endpoint", &endpoint, "--timeout", "10"],
        ))
    }

    /// Sends `request` and returns the parsed reply, checking it echoes the nonce.
    fn send(&mut self, request: Value) -> Value {
        self.0.send_line(&json!({ "text": request.to_string() }));
        let line = self
            .0
            .next_line(Duration::from_secs(20))
            .expect("no output from the REQ peer");
        let text = line["reply"]
            .as_str()
            .unwrap_or_else(|| panic!("no reply to {request}: {line}"));
        let reply: Value = serde_json::from_str(text).expect("reply is JSON");
        assert_eq!(reply["nonce"], request["nonce"], "{reply}");
        assert_eq!(reply["command"], request["command"], "{reply}");
        reply
    }

    fn command(&mut self, command: i64, nonce: i64) -> Value {
        self.send(json!({"command": command, "nonce": nonce}))
    }
}

fn assert_failed(reply: &Value, code: i64, message_part: &str) {
    assert_eq!(reply["result"], FAILED, "{reply}");
    assert_eq!(reply["errorCode"], code, "{reply}");
    assert_eq!(reply["errorKind"], 2, "COMMAND_ERROR: {reply}");
    let message = reply["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains(message_part), "{reply}");
}

#[test]
fn serves_every_command_without_a_terminal() {
    let (mut app, ports) = App::start(&app_args(&[
        "--heartbeat-interval",
        "0.2",
        "--start-delay",
        "0.3",
    ]));
    let sub = Subscriber::join(&ports);
    let mut req = Requester::connect(&ports);

    // Heartbeats, one after another, with the identifier.
    let stamps: Vec<f64> = (0..4)
        .map(|_| {
            let beat = sub.expect(HEARTBEAT, WAIT, |_| true);
            assert_eq!(beat["identifier"], "test-rig", "{beat}");
            beat["timestamp"].as_f64().expect("timestamp")
        })
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");

    assert_eq!(req.command(0, 1)["result"], SUCCESS);

    let status = req.command(400, 2);
    assert_eq!(status["result"], SUCCESS, "{status}");
    assert_eq!(
        status["data"],
        json!({"appStatus": 0, "trainingMode": 100, "animalId": ""})
    );

    let configuration = req.command(300, 3);
    assert_eq!(configuration["result"], SUCCESS, "{configuration}");
    assert_eq!(
        configuration["data"]["deviceId"], "test-rig",
        "{configuration}"
    );
    for key in [
        "applicationVersion",
        "configurationLocation",
        "dataLocation",
        "animalLocation",
        "logLocation",
        "inferenceModel",
    ] {
        assert!(
            configuration["data"][key].is_string(),
            "{key}: {configuration}"
        );
    }

    assert_eq!(req.command(99999, 4)["result"], UNRECOGNIZED);
    let unknown = req.command(12345, 5);
    assert_eq!(unknown["result"], UNRECOGNIZED, "{unknown}");

    assert_failed(&req.command(110, 6), 4, "not acquiring");
    assert_failed(&req.command(210, 7), 6, "not emergency-stopped");

    // START: pending at once, then the result and the event after the delay.
    // (What a start or stop in progress refuses is checked with a delay long
    // enough to be sure it is still in progress: see the next test.)
    let start = req.send(json!({"command": 100, "nonce": 11, "data": {"animalId": "m-7"}}));
    assert_eq!(start["result"], PENDING_WITH_NOTIFICATION, "{start}");
    let result = sub.expect(COMMAND_RESULT, WAIT, |b| b["nonce"] == 11);
    assert_eq!(result["result"], SUCCESS, "{result}");
    assert_eq!(result["command"], 100, "{result}");
    assert_eq!(result["errorCode"], 0, "{result}");
    let acquisition_id = result["data"]["acquisitionId"]
        .as_str()
        .expect("acquisitionId");
    assert_eq!(acquisition_id.len(), 36, "a UUID: {result}");
    assert_eq!(
        result["data"]["animalId"], "m-7",
        "values untouched: {result}"
    );
    assert!(result["data"]["startedAt"].is_f64(), "{result}");
    let started = sub.expect(EVENT, WAIT, |b| b["kind"] == 301);
    assert_eq!(
        started["context"]["acquisitionId"], acquisition_id,
        "{started}"
    );

    let status = req.command(400, 14);
    assert_eq!(status["data"]["appStatus"], 100, "{status}");
    assert_eq!(status["data"]["animalId"], "m-7", "{status}");
    assert_failed(&req.command(100, 15), 1, "already");

    // STOP: the same pattern.
    assert_eq!(req.command(110, 21)["result"], PENDING_WITH_NOTIFICATION);
    let stopped = sub.expect(COMMAND_RESULT, WAIT, |b| b["nonce"] == 21);
    assert_eq!(stopped["result"], SUCCESS, "{stopped}");
    assert_eq!(stopped["command"], 110, "{stopped}");
    assert_eq!(
        stopped["data"]["acquisitionId"], acquisition_id,
        "{stopped}"
    );
    let ended = sub.expect(EVENT, WAIT, |b| b["kind"] == 305);
    assert_eq!(ended["context"]["acquisitionId"], acquisition_id, "{ended}");
    assert_eq!(req.command(400, 23)["data"]["appStatus"], 0);

    // EMERGENCY_STOP: SUCCESS, the event on EMERGENCY first, then on EVENT.
    let stop = req.send(json!({"command": 200, "nonce": 31, "data": {"reason": "door open"}}));
    assert_eq!(stop["result"], SUCCESS, "{stop}");
    let (topic, first) = sub.next_non_heartbeat(WAIT);
    assert_eq!((topic, &first["kind"]), (EMERGENCY, &json!(101)), "{first}");
    assert_eq!(first["context"], json!({"reason": "door open"}));
    let (topic, second) = sub.next_non_heartbeat(WAIT);
    assert_eq!(topic, EVENT, "{second}");
    assert_eq!(second, first);
    assert_failed(&req.command(100, 32), 5, "EMERGENCY_RESUME");

    // EMERGENCY_RESUME: SUCCESS and emergencyResume on both topics.
    assert_eq!(req.command(210, 33)["result"], SUCCESS);
    let resumed = sub.expect(EMERGENCY, WAIT, |b| b["kind"] == 102);
    assert_eq!(
        resumed["context"]["reason"], "EMERGENCY_RESUME command",
        "{resumed}"
    );
    assert!(
        resumed["context"]["stoppedForSeconds"].is_f64(),
        "{resumed}"
    );
    sub.expect(EVENT, WAIT, |b| b["kind"] == 102);

    // Each command was logged on one line.
    app.expect_log("command START_ACQUISITION nonce=11", WAIT);

    app.terminate();
    assert!(app.wait_exit(EXIT).success());
    let log = app.rest_of_stderr(WAIT);
    assert!(log.contains("api service stopped"), "{log}");
}

/// How long starts and stops take in the next test: far longer than a few
/// requests, so a start or stop is certainly still in progress when the
/// requests that follow it arrive.
const LONG_TRANSITION: Duration = Duration::from_secs(30);

/// A start or stop in progress refuses what would conflict with it, and an
/// emergency stop fails it. The timer of a start failed that way still runs
/// later and must find its start superseded: publish nothing, start nothing,
/// and say so in the log (with its ticket).
#[test]
fn a_transition_in_progress_refuses_conflicts_and_an_emergency_stop_supersedes_it() {
    let (mut app, ports) = App::start(&app_args(&[
        "--heartbeat-interval",
        "0.2",
        "--start-delay",
        &LONG_TRANSITION.as_secs().to_string(),
    ]));
    let sub = Subscriber::join(&ports);
    let mut req = Requester::connect(&ports);

    // A start in progress refuses another start and a stop.
    let first = req.send(json!({"command": 100, "nonce": 11, "data": {"animalId": "m-11"}}));
    assert_eq!(first["result"], PENDING_WITH_NOTIFICATION, "{first}");
    assert_failed(&req.command(100, 12), 2, "starting");
    assert_failed(&req.command(110, 13), 2, "starting");
    assert_eq!(req.command(400, 14)["data"]["appStatus"], 0);

    // An emergency stop fails it, and nothing starts until EMERGENCY_RESUME.
    assert_eq!(req.command(200, 15)["result"], SUCCESS);
    let interrupted = sub.expect(COMMAND_RESULT, WAIT, |b| b["nonce"] == 11);
    assert_eq!(interrupted["result"], FAILED, "{interrupted}");
    assert_eq!(interrupted["command"], 100, "{interrupted}");
    assert_eq!(interrupted["errorCode"], 7, "{interrupted}");
    assert!(
        interrupted["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("emergency stop"),
        "{interrupted}"
    );
    assert_failed(&req.command(100, 16), 5, "EMERGENCY_RESUME");
    assert_eq!(req.command(210, 17)["result"], SUCCESS);
    assert_eq!(req.command(400, 18)["data"]["appStatus"], 0);

    // A second start. Its timer is due after the first start's (the app's
    // timer runs jobs in deadline order), so by the time its result is out,
    // the first start's timer has run too. That timer must have published
    // nothing: between the interruption's result and the second start's
    // result come only the resume's events.
    let second = req.send(json!({"command": 100, "nonce": 19, "data": {"animalId": "m-19"}}));
    assert_eq!(second["result"], PENDING_WITH_NOTIFICATION, "{second}");
    let mut between = Vec::new();
    let result = loop {
        let (topic, body) = sub.next_non_heartbeat(LONG_TRANSITION + WAIT);
        if topic == COMMAND_RESULT && body["nonce"] == 19 {
            break body;
        }
        between.push((topic, body));
    };
    let kinds: Vec<(u64, &Value)> = between.iter().map(|(t, b)| (*t, &b["kind"])).collect();
    assert_eq!(
        kinds,
        [(EMERGENCY, &json!(102)), (EVENT, &json!(102))],
        "{between:?}"
    );
    assert_eq!(result["result"], SUCCESS, "{result}");
    assert_eq!(result["data"]["animalId"], "m-19", "{result}");
    // And the first start's timer (ticket 0, the app's first transition)
    // found its start superseded: it did not finish the second one.
    let superseded = app.expect_log("after the start was superseded", WAIT);
    assert!(superseded.contains("ticket=0"), "{superseded}");
    let acquisition_id = result["data"]["acquisitionId"].clone();
    // The one acquisition that started is the second start's.
    let (topic, started) = sub.next_non_heartbeat(WAIT);
    assert_eq!((topic, &started["kind"]), (EVENT, &json!(301)), "{started}");
    assert_eq!(started["context"]["acquisitionId"], acquisition_id);
    let status = req.command(400, 20);
    assert_eq!(status["data"]["appStatus"], 100, "{status}");
    assert_eq!(status["data"]["animalId"], "m-19", "{status}");

    // A running acquisition refuses a start; a stop in progress refuses a
    // stop and a start.
    assert_failed(&req.command(100, 21), 1, "already");
    assert_eq!(req.command(110, 22)["result"], PENDING_WITH_NOTIFICATION);
    assert_failed(&req.command(110, 23), 3, "stopping");
    assert_failed(&req.command(100, 24), 3, "stopping");

    // An emergency stop fails the stop and ends the acquisition.
    let stop = req.send(json!({"command": 200, "nonce": 25, "data": {"reason": "door open"}}));
    assert_eq!(stop["result"], SUCCESS, "{stop}");
    let interrupted = sub.expect(COMMAND_RESULT, WAIT, |b| b["nonce"] == 22);
    assert_eq!(interrupted["result"], FAILED, "{interrupted}");
    assert_eq!(interrupted["command"], 110, "{interrupted}");
    assert_eq!(interrupted["errorCode"], 7, "{interrupted}");
    let ended = sub.expect(EVENT, WAIT, |b| b["kind"] == 305);
    assert_eq!(ended["context"]["acquisitionId"], acquisition_id, "{ended}");
    assert_eq!(
        ended["context"]["reason"], "emergency stop: door open",
        "{ended}"
    );
    assert_eq!(req.command(400, 26)["data"]["appStatus"], 0);

    // The stop's timer is still due; stopping the app does not wait for it.
    app.terminate();
    let status = app.wait_exit(EXIT);
    assert!(status.success(), "exit status {status}");
    let log = app.rest_of_stderr(WAIT);
    assert!(log.contains("api service stopped"), "{log}");
}

#[test]
fn sigterm_publishes_the_result_of_a_pending_start_before_exiting() {
    let (mut app, ports) = App::start(&app_args(&[
        "--heartbeat-interval",
        "0.2",
        "--start-delay",
        "60",
    ]));
    let sub = Subscriber::join(&ports);
    let mut req = Requester::connect(&ports);

    assert_eq!(req.command(100, 77)["result"], PENDING_WITH_NOTIFICATION);
    app.expect_log("command START_ACQUISITION nonce=77", WAIT);
    app.terminate();

    // The app announces it is terminating, then the service settles the start.
    sub.expect(EVENT, WAIT, |b| b["kind"] == 202);
    let settled = sub.expect(COMMAND_RESULT, WAIT, |b| b["nonce"] == 77);
    assert_eq!(settled["result"], FAILED, "{settled}");
    assert_eq!(settled["command"], 100, "{settled}");
    assert_eq!(
        settled["errorCode"],
        auto_trainer_api::ERROR_CODE_STOPPED_WHILE_PENDING,
        "{settled}"
    );
    let status = app.wait_exit(EXIT);
    assert!(status.success(), "exit status {status}");
}

#[test]
fn sigint_stops_it_cleanly() {
    let (mut app, _) = App::start(&app_args(&[]));
    send_signal(app.child.id(), "INT");
    let status = app.wait_exit(EXIT);
    assert!(status.success(), "exit status {status}");
    let log = app.rest_of_stderr(WAIT);
    assert!(log.contains("api service stopped"), "{log}");
}

#[test]
fn a_port_in_use_ends_it_at_once_with_a_clear_message() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_port = taken.local_addr().expect("addr").port();
    let mut app = App::spawn(&app_args_with_pub_port(taken_port, &[]));
    let status = app.wait_exit(EXIT);
    // README.md and the example's documentation: a port in use exits 1.
    assert_eq!(status.code(), Some(1), "exit status {status}");
    let log = app.rest_of_stderr(WAIT);
    assert!(log.contains("cannot start the API service"), "{log}");
    assert!(log.contains(&taken_port.to_string()), "{log}");
    assert!(log.contains("in use"), "{log}");
    assert!(log.contains("--pub-port"), "{log}");
}

/// The example in a pseudo-terminal, typed at through `pty_drive.py`.
struct Terminal {
    driver: PyProcess,
    pid: u32,
}

impl Terminal {
    /// Starts the app at its prompt; the ports it bound.
    fn start(args: &[String]) -> (Terminal, Ports) {
        let binary = built_example("client_application").display().to_string();
        let mut argv = vec!["--".to_string(), binary];
        argv.extend(args.iter().cloned());
        let driver = PyProcess::spawn("pty_drive", &argv);
        let ready = driver.expect_ready(STARTUP);
        let pid = ready["pid"].as_u64().expect("pid") as u32;
        let mut terminal = Terminal { driver, pid };
        // The prompt itself comes after the banner: `ready` waits for it.
        let banner = terminal.expect("Type 'help'", STARTUP);
        // <identifier> serving on PUB port N, command port M. Type 'help'.
        let ports = Ports::after("PUB port ", "command port ", &banner);
        (terminal, ports)
    }

    /// Waits for the prompt drawn after the previous match. rustyline asks
    /// the terminal for the cursor position before drawing it and reads the
    /// answer from the keyboard input, so keys typed before the prompt is
    /// drawn could be eaten.
    fn ready(&mut self) {
        self.expect("device> ", WAIT);
    }

    /// Types `line` and Enter at the next prompt, and waits until the line
    /// is echoed and ended, so that the next `ready` finds a later prompt.
    fn send(&mut self, line: &str) {
        self.ready();
        self.driver.send_line(&json!({ "send": line }));
        self.driver
            .wait_for(WAIT, |v| v.get("sent").is_some())
            .expect("pty_drive typed the line");
        self.expect(&format!("{line}\n"), WAIT);
    }

    /// Types raw bytes (control keys, Tab) at the next prompt.
    fn send_raw(&mut self, bytes: &[u8]) {
        self.ready();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.driver.send_line(&json!({ "send_hex": hex }));
        self.driver
            .wait_for(WAIT, |v| v.get("sent_hex").is_some())
            .expect("pty_drive typed the bytes");
    }

    /// The screen text up to and including `needle`, after the previous match.
    fn expect(&mut self, needle: &str, timeout: Duration) -> String {
        self.driver
            .send_line(&json!({"expect": needle, "timeout": timeout.as_secs_f64()}));
        let reply = self
            .driver
            .wait_for(timeout + WAIT, |v| {
                v.get("matched").is_some() || v.get("timeout").is_some()
            })
            .expect("pty_drive answers");
        let output = reply["output"].as_str().unwrap_or_default().to_owned();
        assert!(
            reply.get("matched").is_some(),
            "{needle:?} did not appear; output:\n{output}"
        );
        output
    }

    /// Waits for the app to exit: its exit code and the rest of the screen.
    fn wait_exit(&mut self, timeout: Duration) -> (Option<i64>, String) {
        self.driver
            .send_line(&json!({ "wait_exit": timeout.as_secs_f64() }));
        let reply = self
            .driver
            .wait_for(timeout + WAIT, |v| {
                v.get("exit").is_some() || v.get("timeout").is_some()
            })
            .expect("pty_drive answers");
        let output = reply["output"].as_str().unwrap_or_default().to_owned();
        assert!(
            reply.get("timeout").is_none(),
            "did not exit; output:\n{output}"
        );
        (reply["exit"].as_i64(), output)
    }
}

#[test]
fn the_prompt_publishes_events_and_shows_state() {
    let (mut terminal, ports) = Terminal::start(&app_args(&[
        "--heartbeat-interval",
        "0.2",
        "--start-delay",
        "60",
    ]));
    let sub = Subscriber::join(&ports);
    let mut req = Requester::connect(&ports);

    // A START that stays pending, to be seen by `pending` and `state`.
    assert_eq!(req.command(100, 5)["result"], PENDING_WITH_NOTIFICATION);
    terminal.expect(
        "command START_ACQUISITION nonce=5 -> PENDING_WITH_NOTIFICATION",
        WAIT,
    );
    terminal.send("pending");
    terminal.expect("1 pending command(s):", WAIT);
    let listed = terminal.expect("pending for", WAIT);
    assert!(
        listed.contains("nonce 5") && listed.contains("START_ACQUISITION"),
        "{listed}"
    );
    terminal.send("state");
    terminal.expect("state: starting an acquisition", WAIT);

    terminal.send(r#"event acquisitionStarted {"animal_id":"m1"}"#);
    let event = sub.expect(EVENT, WAIT, |b| b["kind"] == 301);
    assert_eq!(
        event["context"],
        json!({"animalId": "m1"}),
        "camelized keys: {event}"
    );
    terminal.expect("published EVENT acquisitionStarted", WAIT);

    terminal.send("estop test");
    let emergency = sub.expect(EMERGENCY, WAIT, |b| b["kind"] == 101);
    assert_eq!(emergency["context"], json!({"reason": "test"}));
    sub.expect(EVENT, WAIT, |b| b["kind"] == 101);
    // The emergency stop failed the start in progress.
    let failed = sub.expect(COMMAND_RESULT, WAIT, |b| b["nonce"] == 5);
    assert_eq!(failed["result"], FAILED, "{failed}");
    assert_eq!(failed["errorCode"], 7, "{failed}");

    terminal.send("state");
    terminal.expect("state: emergency-stopped", WAIT);
    terminal.expect("(reason: test)", WAIT);
    // Tab completion: "pend" + Tab becomes "pending".
    terminal.send_raw(b"pend\t\r");
    terminal.expect("no pending commands", WAIT);
    terminal.send("stats");
    let stats = terminal.expect("pending 0", WAIT);
    assert!(
        stats.contains("heartbeats") && stats.contains("requests 1"),
        "{stats}"
    );
    terminal.send(r#"property {"door":"open"}"#);
    let property = sub.expect(5001, WAIT, |_| true);
    assert_eq!(property, json!({"door": "open"}));
    terminal.send("event noSuchKind");
    terminal.expect("error: ", WAIT);
    terminal.send("resume");
    sub.expect(EMERGENCY, WAIT, |b| b["kind"] == 102);

    terminal.send("quit");
    let (code, output) = terminal.wait_exit(EXIT);
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("api service stopped"), "{output}");
}

#[test]
fn ctrl_c_at_the_prompt_exits_cleanly() {
    let (mut terminal, _) = Terminal::start(&app_args(&[]));
    terminal.send_raw(b"\x03");
    let (code, output) = terminal.wait_exit(EXIT);
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("api service stopped"), "{output}");
}

#[test]
fn sigterm_at_the_prompt_exits_cleanly() {
    let (mut terminal, _) = Terminal::start(&app_args(&[]));
    send_signal(terminal.pid, "TERM");
    let (code, output) = terminal.wait_exit(EXIT);
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("api service stopped"), "{output}");
}

/// The next message for which `want` holds; panics if none comes in time.
#[cfg(feature = "client")]
fn next_matching(
    client: &mut auto_trainer_api::BlockingDeviceClient,
    want: impl Fn(&auto_trainer_api::DeviceMessage) -> bool,
) -> auto_trainer_api::DeviceMessage {
    let deadline = Instant::now() + WAIT;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let message = client
            .next_message(remaining)
            .expect("no matching message in time");
        if want(&message) {
            return message;
        }
    }
}

/// The crate's own operator-side client against the example.
#[cfg(feature = "client")]
#[test]
fn the_rust_client_commands_the_example() {
    use auto_trainer_api::{
        ApiCommand, ApiCommandRequestResult, ApiEventKind, BlockingDeviceClient, ClientOptions,
        DeviceMessage,
    };

    let (mut app, ports) = App::start(&app_args(&[
        "--heartbeat-interval",
        "0.2",
        "--start-delay",
        "0.2",
    ]));
    let mut client = BlockingDeviceClient::connect(
        ClientOptions::new("127.0.0.1").with_ports(ports.publisher, ports.command),
    )
    .expect("connect");
    next_matching(
        &mut client,
        |m| matches!(m, DeviceMessage::Heartbeat(h) if h.identifier == "test-rig"),
    );

    let status = client
        .send_command(ApiCommand::GetStatus, None)
        .expect("GET_STATUS");
    assert_eq!(status.result, ApiCommandRequestResult::Success);
    assert_eq!(
        status.data,
        Some(json!({"app_status": 0, "training_mode": 100, "animal_id": ""})),
        "idle, manual, no animal; snake_case on the client side"
    );

    let start = client
        .send_command(
            ApiCommand::StartAcquisition,
            Some(json!({"animal_id": "m-2"})),
        )
        .expect("START_ACQUISITION");
    assert_eq!(
        start.result,
        ApiCommandRequestResult::PendingWithNotification
    );
    let result = client
        .wait_for_result(start.nonce, WAIT)
        .expect("the START result");
    assert_eq!(
        result.result,
        ApiCommandRequestResult::Success,
        "{result:?}"
    );
    let data = result.data.expect("result data");
    assert_eq!(data["animal_id"], "m-2", "snake_case on the client side");
    let acquisition_id = data["acquisition_id"].clone();
    let started = next_matching(
        &mut client,
        |m| matches!(m, DeviceMessage::Event(e) if e.kind == ApiEventKind::AcquisitionStarted),
    );
    let DeviceMessage::Event(started) = started else {
        unreachable!()
    };
    assert_eq!(
        started.context.expect("context")["acquisition_id"],
        acquisition_id
    );

    let stop = client
        .send_command(
            ApiCommand::EmergencyStop,
            Some(json!({"reason": "client test"})),
        )
        .expect("EMERGENCY_STOP");
    assert_eq!(stop.result, ApiCommandRequestResult::Success);
    let emergency = next_matching(&mut client, |m| matches!(m, DeviceMessage::Emergency(_)));
    let DeviceMessage::Emergency(emergency) = emergency else {
        unreachable!()
    };
    assert_eq!(emergency.kind, ApiEventKind::EmergencyStop);
    assert_eq!(emergency.context, Some(json!({"reason": "client test"})));
    client.close();

    app.terminate();
    assert!(app.wait_exit(EXIT).success());
}

/// A log nobody reads (a paused terminal, a stuck log shipper) fills the
/// stderr pipe; the app must keep answering, emergency stops included.
#[test]
fn a_log_nobody_reads_never_stalls_the_command_loop() {
    use std::io::{BufRead, BufReader};

    let mut child = Command::new(built_example("client_application"))
        .args(app_args(&[]))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start client_application");
    // Read up to the line with the ports, then never again.
    let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
    let mut line = String::new();
    while !line.contains("api service started") {
        line.clear();
        let read = stderr.read_line(&mut line).expect("read stderr");
        assert!(read > 0, "client_application ended before serving");
    }
    let ports = Ports::after("subscriber_port=", "command_port=", &line);

    // Each answered command logs a line of ~150 bytes: 3,000 of them are
    // several times what a pipe holds (64 KiB on Linux).
    let mut req = common::zmq_client::ReqClient::with_timeout(ports.command, WAIT);
    for nonce in 0..3_000 {
        let (request, expected) = if nonce % 3 == 0 {
            (format!("not json {nonce}"), UNRECOGNIZED)
        } else {
            (json!({"command": 400, "nonce": nonce}).to_string(), SUCCESS)
        };
        let reply = req
            .try_request(request.as_bytes())
            .unwrap_or_else(|| panic!("no reply to request {nonce}: the command loop stalled"));
        let reply = common::zmq_client::parse_json(&reply);
        assert_eq!(reply["result"], expected, "request {nonce}: {reply}");
    }
    let stop = req.request_json(&json!({"command": 200, "nonce": 9_999}));
    assert_eq!(stop["result"], SUCCESS, "{stop}");

    let _ = child.kill();
    let _ = child.wait();
    drop(stderr);
}

/// The body of a 0.12 EVENT (or EMERGENCY) message read as a 0.12 event.
fn event_v0_12(body: &Value) -> auto_trainer_api::v0_12::ApiEvent {
    serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("not an event: {e}: {body}"))
}

/// `--protocol 0.12`: the app behaves as a 0.12 device. Its status,
/// configuration and animals decode as the 0.12 payloads; the application
/// mode, training mode and behaviour settings round-trip and publish the
/// 0.12 events; a run is SET_APPLICATION_MODE RUNNING (pending, with a
/// COMMAND_RESULT); START/STOP_ACQUISITION are obsolete; the emergency events
/// carry their reason codes and alarms.
#[test]
fn serves_protocol_0_12_as_a_0_12_app() {
    use auto_trainer_api::v0_12::{
        kind, ApiAnimalStatus, ApiApplicationMode, ApiEmergencyResumeReason,
        ApiEmergencyStopReason, ApiSystemConfiguration, ApiSystemStatus, ApiTrainingMode,
    };
    use auto_trainer_api::{decode_payload, EventKind, Generation};

    let (mut app, ports) = App::start(&app_args(&[
        "--heartbeat-interval",
        "0.2",
        "--start-delay",
        "0.3",
        "--protocol",
        "0.12",
    ]));
    let sub = Subscriber::join(&ports);
    let mut req = Requester::connect(&ports);

    let beat = sub.expect(HEARTBEAT, WAIT, |_| true);
    let version = beat["version"].as_str().expect("version");
    assert!(version.starts_with("0.12.0+rust."), "{beat}");

    let status = |req: &mut Requester, nonce| -> ApiSystemStatus {
        let reply = req.command(400, nonce);
        assert_eq!(reply["result"], SUCCESS, "{reply}");
        decode_payload(&reply["data"]).unwrap_or_else(|e| panic!("{e}: {reply}"))
    };
    let idle = status(&mut req, 1);
    assert_eq!(idle.application_mode, ApiApplicationMode::Idle);
    assert_eq!(idle.training_mode, ApiTrainingMode::Manual);
    assert_eq!(idle.animal, None);
    assert!(!idle.alarms.is_empty() && !idle.detectors.is_empty());
    assert!(idle.behavior.is_live_analysis_enabled);
    assert!(!idle.behavior.is_batch_trials_enabled);

    let configuration = req.command(300, 2);
    let configuration: ApiSystemConfiguration =
        decode_payload(&configuration["data"]).expect("an ApiSystemConfiguration");
    assert_eq!(configuration.device_id, "test-rig");
    let animals = req.command(500, 3);
    let animals: Vec<ApiAnimalStatus> = decode_payload(&animals["data"]).expect("animals");
    assert_eq!(animals.len(), 2, "{animals:?}");

    // Obsolete in 0.12 (50, 55), and 0.9.11's numbers mean nothing.
    for (nonce, command) in [(4, 50), (5, 55), (6, 100), (7, 110)] {
        assert_eq!(req.command(command, nonce)["result"], UNRECOGNIZED);
    }

    // SET_APPLICATION_MODE at once for a mode at rest: the mode in effect
    // comes back, applicationModeChanged only when it changes.
    let set_mode = |req: &mut Requester, nonce: i64, mode: Value| {
        req.send(json!({"command": 120, "nonce": nonce, "data": {"mode": mode}}))
    };
    let invalid = set_mode(&mut req, 10, json!(7));
    assert_eq!(invalid["result"], FAILED, "{invalid}");
    assert_eq!(invalid["data"], json!({"mode": 0}), "{invalid}");
    let training = set_mode(&mut req, 11, json!(300));
    assert_eq!(
        (&training["result"], &training["data"]),
        (&json!(SUCCESS), &json!({"mode": 300})),
        "{training}"
    );
    let changed = event_v0_12(&sub.expect(EVENT, WAIT, |b| b["kind"] == 301));
    let tagged = EventKind::read(Some(Generation::V0_12), changed.kind.value());
    assert_eq!(tagged.to_string(), "applicationModeChanged");
    let context = changed
        .context_of(kind::ApplicationModeChanged)
        .expect("applicationModeChanged")
        .expect("its context");
    assert_eq!(context.mode, ApiApplicationMode::InTraining);
    let again = set_mode(&mut req, 12, json!(300));
    assert_eq!(again["result"], SUCCESS, "{again}");
    // A run starts from IDLE only.
    assert_eq!(set_mode(&mut req, 13, json!(100))["result"], 9999);
    assert_eq!(set_mode(&mut req, 14, json!(0))["result"], SUCCESS);
    let (topic, back) = sub.next_non_heartbeat(WAIT);
    assert_eq!(
        (topic, &back["kind"], &back["context"]),
        (EVENT, &json!(301), &json!({"mode": 0})),
        "no event for the repeated IN_TRAINING: {back}"
    );

    // A run: pending, then its COMMAND_RESULT and applicationModeChanged.
    let run =
        req.send(json!({"command": 120, "nonce": 21, "data": {"mode": 100, "animalId": "m-7"}}));
    assert_eq!(run["result"], PENDING_WITH_NOTIFICATION, "{run}");
    let result = sub.expect(COMMAND_RESULT, WAIT, |b| b["nonce"] == 21);
    assert_eq!(
        (&result["result"], &result["command"], &result["data"]),
        (&json!(SUCCESS), &json!(120), &json!({"mode": 100})),
        "{result}"
    );
    sub.expect(EVENT, WAIT, |b| {
        b["kind"] == 301 && b["context"]["mode"] == 100
    });
    let running = status(&mut req, 22);
    assert_eq!(running.application_mode, ApiApplicationMode::Running);
    assert_eq!(running.animal.expect("the animal").identifier, "m-7");

    // Training mode and a behaviour setting, reflected in GET_STATUS.
    let automatic = req.send(json!({"command": 130, "nonce": 31, "data": {"mode": 300}}));
    assert_eq!(automatic["data"], json!({"mode": 300}), "{automatic}");
    let event = sub.expect(EVENT, WAIT, |b| b["kind"] == 5001);
    assert_eq!(event["context"], json!({"trainingMode": 300}), "{event}");
    let off = req.send(json!({"command": 1000, "nonce": 32, "data": {"enabled": false}}));
    assert_eq!(
        (&off["result"], &off["data"]),
        (&json!(SUCCESS), &json!({"enabled": false})),
        "{off}"
    );
    let bad = req.send(json!({"command": 1010, "nonce": 33, "data": {"enabled": "no"}}));
    assert_eq!(
        (&bad["result"], &bad["data"]),
        (&json!(FAILED), &json!({"enabled": true})),
        "{bad}"
    );
    assert_eq!(req.command(1090, 34)["result"], FAILED, "no data");
    let clamp = req.send(json!({"command": 1070, "nonce": 35, "data": {"enabled": false}}));
    assert_eq!(clamp["result"], SUCCESS, "{clamp}");
    let event = sub.expect(EVENT, WAIT, |b| b["kind"] == 1611);
    assert_eq!(event["context"], json!({"isEnabled": false}), "{event}");
    let now = status(&mut req, 36);
    assert_eq!(now.training_mode, ApiTrainingMode::Automatic);
    assert!(!now.behavior.is_live_analysis_enabled);
    assert!(now.behavior.is_pellet_delivery_enabled);
    assert!(!now.behavior.is_auto_clamp_enabled);

    // EMERGENCY_STOP: the typed context, on EMERGENCY then EVENT; the run ends.
    let stop = req.send(json!({"command": 200, "nonce": 41, "data": {"reason": "door open"}}));
    assert_eq!(stop["result"], SUCCESS, "{stop}");
    let (topic, first) = sub.next_non_heartbeat(WAIT);
    assert_eq!((topic, &first["kind"]), (EMERGENCY, &json!(101)), "{first}");
    assert_eq!(
        first["context"],
        json!({"reason": "door open", "reasonCode": 401, "activeAlarms": []})
    );
    let stopped = event_v0_12(&first)
        .context_of(kind::EmergencyStop)
        .expect("emergencyStop")
        .expect("its context");
    assert_eq!(stopped.reason_code, ApiEmergencyStopReason::RpcService);
    sub.expect(EVENT, WAIT, |b| b["kind"] == 101);
    sub.expect(EVENT, WAIT, |b| {
        b["kind"] == 301 && b["context"]["mode"] == 0
    });
    assert_eq!(set_mode(&mut req, 42, json!(100))["result"], 9999);

    assert_eq!(req.command(210, 43)["result"], SUCCESS);
    let resumed = event_v0_12(&sub.expect(EMERGENCY, WAIT, |b| b["kind"] == 102));
    let resumed = resumed
        .context_of(kind::EmergencyResume)
        .expect("emergencyResume")
        .expect("its context");
    assert_eq!(resumed.reason_code, ApiEmergencyResumeReason::RpcService);
    assert!(resumed.resumed_alarms.is_empty());
    assert_failed(&req.command(210, 44), 6, "not emergency-stopped");

    app.expect_log("command SET_APPLICATION_MODE nonce=21", WAIT);
    app.terminate();
    let terminating = sub.expect(EVENT, WAIT, |b| b["kind"] == 202);
    assert_eq!(
        terminating["context"],
        json!({"reason": "stopped by a signal"})
    );
    assert!(app.wait_exit(EXIT).success());
}

/// The service's warning when it serves commands beyond loopback without keys.
const OPEN_WARNING: &str = "commands are served beyond this machine without keys";

#[test]
fn warns_once_when_serving_beyond_loopback_without_keys() {
    for (bind, warnings) in [("127.0.0.1", 0), ("0.0.0.0", 1)] {
        let args: Vec<String> = ["--bind", bind, "--pub-port", "0", "--cmd-port", "0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (mut app, _) = App::start(&args);
        app.terminate();
        assert!(app.wait_exit(EXIT).success());
        let log = app.rest_of_stderr(WAIT);
        assert_eq!(
            log.matches(OPEN_WARNING).count(),
            warnings,
            "--bind {bind}:\n{log}"
        );
    }
}
