//! The gateway end to end, with real processes only: a `nats-server` with
//! JetStream (one per test), the gateway binary, rigs on ports the OS
//! picked (two `client_application` examples, one serving 0.9 and one 0.12,
//! and the Python reference service 0.9.11), checked from outside by an
//! independent NATS client (nats-py, `tests/python/fleet_client.py`) and,
//! for comparison, by direct pyzmq requests to the rigs.
//!
//! What is checked is the contract of FLEET.md. No test asserts a duration:
//! waits poll for a condition under a generous deadline.
//!
//! Run: `cargo build --examples && cargo test -p auto-trainer-gateway --test
//! fleet` (the tests make the venvs, `scripts/python-test-env.sh fleet` and
//! `0.9`, themselves if needed, but run the examples as built).

#[path = "../../tests/common"]
mod common {
    pub mod examples;
    pub mod nats;
    pub mod python;
}

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use common::examples::{
    built_example, line_containing, port_after, read_lines, run_to_end, wait_child,
};
use common::nats::{
    gateway_command, FleetClient, GatewayProcess, NatsMessage, NatsServer, TempDir,
};
use common::python::{start_reference_service, PyProcess};

const PREFIX: &str = "autotrainer";
/// The gateway binary under test.
const GATEWAY_EXE: &str = env!("CARGO_BIN_EXE_auto-trainer-gateway");
const STREAM: &str = "AUTOTRAINER";
const BUCKET: &str = "autotrainer_rigs";

/// The deadline of every wait for a condition.
const WAIT: Duration = Duration::from_secs(30);
/// How long the NATS client waits for a reply (the gateway's own command
/// timeout is 2 s).
const REQUEST: Duration = Duration::from_secs(10);
/// The rigs' heartbeat interval, in seconds: offline within ~1.5 s.
const HEARTBEAT: &str = "0.5";
/// The key the gateway signs with, for a rig that requires signed commands.
const GATEWAY_KEY_ID: &str = "gateway-site-a";

const HEARTBEAT_TOPIC: u32 = 1001;
const EMERGENCY_TOPIC: u32 = 2001;
const EVENT_TOPIC: u32 = 4001;
const PROPERTY_CHANGE_TOPIC: u32 = 5001;
const COMMAND_RESULT_TOPIC: u32 = 6001;
/// A topic that is none of the protocol's.
const OTHER_TOPIC: u32 = 7777;

const NONE: i64 = 0;
const START_ACQUISITION: i64 = 100;
const SET_APPLICATION_MODE: i64 = 120;
const EMERGENCY_STOP: i64 = 200;
const GET_CONFIGURATION: i64 = 300;
const GET_STATUS: i64 = 400;
const RUNNING: i64 = 100;
const TUNNEL_ENTER: i64 = 1101;
const ACQUISITION_STARTED: i64 = 301;

const FAILED: i64 = 400;
const UNRECOGNIZED: i64 = 0;
const SUCCESS: i64 = 100;
const PENDING_WITH_NOTIFICATION: i64 = 201;
const UNAVAILABLE: i64 = 9999;
const SYSTEM_ERROR: i64 = 1;

fn command_subject(rig: &str) -> String {
    format!("{PREFIX}.{rig}.command")
}

fn request_body(command: i64, nonce: i64, data: Value) -> Vec<u8> {
    json!({"command": command, "nonce": nonce, "data": data, "customCommand": null})
        .to_string()
        .into_bytes()
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// `Nats-Msg-Id` as FLEET.md computes it: lowercase hex SHA-256 of
/// `<rig>\n<topic>\n<body>`.
fn msg_id(rig: &str, topic: u32, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(format!("{rig}\n{topic}\n").as_bytes());
    hash.update(body);
    hex::encode(hash.finalize())
}

/// Polls `condition` every 100 ms until it holds or `WAIT` passes.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "not within {WAIT:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The JSON value with every leaf replaced by its type's name: two replies
/// of the same shape have equal shapes.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        Value::Null => json!("null"),
        Value::Bool(_) => json!("bool"),
        Value::Number(_) => json!("number"),
        Value::String(_) => json!("string"),
    }
}

/// The headers FLEET.md puts on every bridged message.
fn assert_bridged_headers(message: &NatsMessage, rig: &str, topic: u32, gateways: &[&str]) {
    let header = |name: &str| {
        message
            .header(name)
            .unwrap_or_else(|| panic!("no {name} on {}: {:?}", message.subject, message.headers))
    };
    assert_eq!(header("Autotrainer-Rig"), rig, "{message:?}");
    assert_eq!(
        header("Autotrainer-Topic"),
        topic.to_string(),
        "{message:?}"
    );
    assert!(
        gateways.contains(&header("Autotrainer-Gateway")),
        "{message:?}"
    );
    let received: f64 = header("Autotrainer-Received")
        .parse()
        .unwrap_or_else(|_| panic!("Autotrainer-Received is not epoch seconds: {message:?}"));
    assert!(
        received > 1_600_000_000.0 && received <= now() + 60.0,
        "{message:?}"
    );
    assert_eq!(
        header("Nats-Msg-Id"),
        msg_id(rig, topic, &message.body),
        "{message:?}"
    );
}

/// A failure reply of the gateway, per FLEET.md: a well-formed rig reply
/// (UNAVAILABLE, SYSTEM_ERROR, a message naming the rig) with the header
/// `Autotrainer-Error: <cause>`.
fn assert_unavailable(reply: &NatsMessage, rig: &str, nonce: i64, cause: &str) {
    let body = reply.json();
    assert_eq!(body["result"], json!(UNAVAILABLE), "{body}");
    assert_eq!(body["errorKind"], json!(SYSTEM_ERROR), "{body}");
    assert_eq!(body["nonce"], json!(nonce), "{body}");
    let message = body["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains(rig),
        "the errorMessage names {rig}: {body}"
    );
    assert_eq!(
        reply.header("Autotrainer-Error"),
        Some(cause),
        "{body} {:?}",
        reply.headers
    );
}

// ---------------------------------------------------------------------
// Rigs

#[derive(Clone, Copy, PartialEq, Debug)]
enum RigKind {
    /// `client_application`, serving 0.9.
    App,
    /// `client_application --protocol 0.12`.
    App012,
    /// The Python reference service, auto-trainer-api 0.9.11.
    Reference,
}

impl RigKind {
    fn protocol(self) -> &'static str {
        match self {
            RigKind::App | RigKind::Reference => "0.9",
            RigKind::App012 => "0.12",
        }
    }
}

enum RigProcess {
    App {
        child: Child,
        _log: Receiver<String>,
    },
    Reference(PyProcess),
    Stopped,
}

/// A rig: a device process on its own ports, which a restart keeps.
struct Rig {
    name: &'static str,
    kind: RigKind,
    pub_port: u16,
    cmd_port: u16,
    process: RigProcess,
    /// Every stdout line of a reference rig, in order.
    lines: Vec<Value>,
    /// A reference rig's scripted answers (`reference_service.py --answers`).
    answers: Option<Value>,
    /// An app rig's key file (`--keys`): it takes signed commands only, and
    /// the gateway signs with the key [`GATEWAY_KEY_ID`] of it.
    keys: Option<PathBuf>,
}

impl Rig {
    fn start(name: &'static str, kind: RigKind) -> Rig {
        Rig::spawned(name, kind, None, None)
    }

    /// A reference rig whose delegate answers as `answers` says.
    fn reference_with_answers(name: &'static str, answers: Value) -> Rig {
        Rig::spawned(name, RigKind::Reference, Some(answers), None)
    }

    /// A `client_application` rig (0.9) that takes only commands signed
    /// with a key of `key_file`.
    fn app_with_keys(name: &'static str, key_file: PathBuf) -> Rig {
        Rig::spawned(name, RigKind::App, None, Some(key_file))
    }

    /// A rig started on ports the OS picks.
    fn spawned(
        name: &'static str,
        kind: RigKind,
        answers: Option<Value>,
        keys: Option<PathBuf>,
    ) -> Rig {
        let mut rig = Rig {
            name,
            kind,
            pub_port: 0,
            cmd_port: 0,
            process: RigProcess::Stopped,
            lines: Vec::new(),
            answers,
            keys,
        };
        rig.spawn();
        rig
    }

    fn identifier(&self) -> String {
        format!("{}-device", self.name)
    }

    /// Starts the device on the rig's ports (the OS picks them the first
    /// time). A port of the killed device may stay busy a moment: it tries
    /// again until `WAIT` passes.
    fn spawn(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.try_spawn() {
                Ok(()) => return,
                Err(error) if Instant::now() >= deadline => {
                    panic!("rig {} did not start: {error}", self.name)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    fn try_spawn(&mut self) -> Result<(), String> {
        let identifier = self.identifier();
        let (pub_port, cmd_port) = (self.pub_port.to_string(), self.cmd_port.to_string());
        match self.kind {
            RigKind::App | RigKind::App012 => {
                let mut command = Command::new(built_example("client_application"));
                command.args([
                    "--bind",
                    "127.0.0.1",
                    "--pub-port",
                    &pub_port,
                    "--cmd-port",
                    &cmd_port,
                    "--identifier",
                    &identifier,
                    "--heartbeat-interval",
                    HEARTBEAT,
                    "--start-delay",
                    "0.5",
                ]);
                if self.kind == RigKind::App012 {
                    command.args(["--protocol", "0.12"]);
                }
                if let Some(keys) = &self.keys {
                    command.arg("--keys").arg(keys);
                }
                let mut child = command
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|e| format!("cannot start client_application: {e}"))?;
                let log = read_lines(child.stderr.take().expect("piped stderr"), "rig app");
                // api service started identifier=... subscriber_port=N command_port=M
                let deadline = Instant::now() + WAIT;
                let started = loop {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    match log.recv_timeout(remaining) {
                        Ok(line) if line.contains("api service started") => break line,
                        Ok(_) => {}
                        Err(_) => {
                            let _ = child.kill();
                            let _ = child.wait();
                            return Err("client_application did not start".to_owned());
                        }
                    }
                };
                let port = |label: &str| {
                    port_after(label, &started)
                        .unwrap_or_else(|| panic!("no {label} in {started:?}"))
                };
                self.pub_port = port("subscriber_port=");
                self.cmd_port = port("command_port=");
                self.process = RigProcess::App { child, _log: log };
            }
            RigKind::Reference => {
                let mut extra = vec!["--identifier", &identifier];
                if self.pub_port != 0 {
                    // After the script's own `--pub-port 0 --cmd-port 0`: the last wins.
                    extra.extend(["--pub-port", &pub_port, "--cmd-port", &cmd_port]);
                }
                let reference = std::panic::catch_unwind(|| {
                    start_reference_service(HEARTBEAT, self.answers.as_ref(), &extra, WAIT)
                })
                .map_err(|_| "the reference service did not start".to_owned())?;
                self.pub_port = reference.pub_port;
                self.cmd_port = reference.cmd_port;
                self.lines.clear();
                self.process = RigProcess::Reference(reference.process);
            }
        }
        Ok(())
    }

    /// Kills the device (SIGKILL, as a crash would).
    fn kill(&mut self) {
        match std::mem::replace(&mut self.process, RigProcess::Stopped) {
            RigProcess::App { mut child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
            RigProcess::Reference(mut process) => process.kill(),
            RigProcess::Stopped => {}
        }
    }

    /// Kills the device and starts it again on the same ports.
    fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn reference(&mut self) -> &mut PyProcess {
        match &mut self.process {
            RigProcess::Reference(process) => process,
            _ => panic!("rig {} is not a running reference service", self.name),
        }
    }

    /// Reads the reference's stdout lines that came, waiting up to
    /// `timeout` for the first.
    fn pump(&mut self, timeout: Duration) {
        let process = self.reference();
        let mut got = Vec::new();
        let mut wait = timeout;
        while let Some(line) = process.next_line(wait) {
            got.push(line);
            wait = Duration::ZERO;
        }
        self.lines.extend(got);
    }

    /// Waits until a stdout line of the reference at index `from` or later
    /// satisfies `predicate`; returns it.
    fn wait_line(&mut self, from: usize, mut predicate: impl FnMut(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(line) = self.lines.iter().skip(from).find(|line| predicate(line)) {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "rig {}: no such line within {WAIT:?}; saw {:?}",
                self.name,
                self.lines
            );
            self.pump(Duration::from_millis(100));
        }
    }

    /// The requests the reference's delegate saw so far.
    fn requests(&mut self) -> Vec<Value> {
        self.pump(Duration::ZERO);
        self.lines
            .iter()
            .filter_map(|line| line.get("request").cloned())
            .collect()
    }

    /// Publishes an EVENT from the reference (its `send_event`) and waits
    /// until the reference says it sent it.
    fn send_event(&mut self, kind: i64, index: i64, context: Value) {
        let from = self.lines.len();
        self.reference().send_line(&json!({"send_event": {
            "kind": kind, "when": 1_700_000_000.5, "index": index, "context": context
        }}));
        let sent = self.wait_line(from, |line| line.get("sent").is_some());
        assert_eq!(sent["sent"], json!(true), "rig {}", self.name);
    }

    /// Publishes `message` on `topic` from the reference (its `send_dict`)
    /// and waits until the reference says it sent it.
    fn send_dict(&mut self, topic: u32, message: Value) {
        let from = self.lines.len();
        self.reference()
            .send_line(&json!({"send_dict": {"topic": topic, "message": message}}));
        let sent = self.wait_line(from, |line| line.get("sent").is_some());
        assert_eq!(sent["sent"], json!(true), "rig {}", self.name);
    }

    /// The rig's reply to `request`, sent straight to its command port by a
    /// pyzmq REQ (not through the gateway).
    fn direct_request(&self, request: &[u8]) -> String {
        let endpoint = format!("tcp://127.0.0.1:{}", self.cmd_port);
        let mut peer = PyProcess::spawn(
            "zmq_peer",
            &["req", "--endpoint", &endpoint, "--timeout", "10"],
        );
        peer.send_line(&json!({"hex": hex::encode(request)}));
        let reply = peer
            .wait_for(WAIT, |line| {
                line.get("reply").is_some() || line.get("timeout").is_some()
            })
            .unwrap_or_else(|| panic!("zmq_peer gave no reply from rig {}", self.name));
        peer.close_stdin();
        reply["reply"]
            .as_str()
            .unwrap_or_else(|| panic!("rig {} did not reply directly: {reply}", self.name))
            .to_owned()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------
// The gateway

/// A gateway process, `auto-trainer-gateway --config <file>`, ready.
struct Gateway {
    name: String,
    process: GatewayProcess,
}

impl Gateway {
    /// Writes its configuration (FLEET.md's shape) for `rigs` and starts it;
    /// waits for its `ready:` line.
    fn start(name: &str, nats_url: &str, rigs: &[&Rig], dir: &Path) -> Gateway {
        Gateway::run(name, &write_config(name, nats_url, rigs, dir))
    }

    /// Starts gateway `name` with the configuration file `config`; waits
    /// for its `ready:` line.
    fn run(name: &str, config: &Path) -> Gateway {
        Gateway {
            name: name.to_owned(),
            process: GatewayProcess::start(gateway_command(GATEWAY_EXE, config)),
        }
    }

    /// Kills it (SIGKILL, as a crash would).
    fn kill(&mut self) {
        self.process.kill();
    }

    /// Sends SIGTERM and waits (up to `WAIT`) for it to exit.
    fn terminate(&mut self) -> Option<ExitStatus> {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.process.child.id().to_string())
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill -TERM failed");
        wait_child(&mut self.process.child, WAIT)
    }

    fn status_subject(&self) -> String {
        format!("{PREFIX}.gateway.{}.status", self.name)
    }

    fn reload_subject(&self) -> String {
        format!("{PREFIX}.gateway.{}.reload", self.name)
    }

    /// Sends SIGHUP (re-read the configuration).
    fn hang_up(&self) {
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(self.process.child.id().to_string())
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill -HUP failed");
    }
}

/// The gateway's command line for `config`, the environment's NATS
/// overrides removed.
fn write_config(name: &str, nats_url: &str, rigs: &[&Rig], dir: &Path) -> PathBuf {
    let mut text = format!(
        "[gateway]\nname = \"{name}\"\nhttp = \"127.0.0.1:0\"\n\n\
         [nats]\nurl = \"{nats_url}\"\nprefix = \"{PREFIX}\"\nstream = \"{STREAM}\"\n\
         bucket = \"{BUCKET}\"\ncommand_timeout = \"2s\"\n"
    );
    for rig in rigs {
        text.push_str(&format!(
            "\n[[rig]]\nname = \"{}\"\nhost = \"127.0.0.1\"\npub_port = {}\ncmd_port = {}\n\
             protocol = \"auto\"\n",
            rig.name, rig.pub_port, rig.cmd_port
        ));
        if let Some(keys) = &rig.keys {
            text.push_str(&format!(
                "key_file = \"{}\"\nkey_id = \"{GATEWAY_KEY_ID}\"\n",
                keys.display()
            ));
        }
    }
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write the gateway's config");
    path
}

// ---------------------------------------------------------------------
// A fleet: NATS, rigs, one gateway, the NATS client

struct Fleet {
    // Dropped in this order: the client, the gateway, the rigs, the server.
    client: FleetClient,
    gateway: Gateway,
    rigs: Vec<Rig>,
    nats: NatsServer,
    _dir: TempDir,
}

impl Fleet {
    /// rig-a (client_application 0.9), rig-b (client_application 0.12),
    /// rig-c (the 0.9.11 reference) and gateway site-a; returns once the
    /// bucket shows every rig online.
    fn start() -> Fleet {
        let nats = NatsServer::start();
        let rigs = vec![
            Rig::start("rig-a", RigKind::App),
            Rig::start("rig-b", RigKind::App012),
            Rig::start("rig-c", RigKind::Reference),
        ];
        let dir = TempDir::new("gateway");
        let gateway = Gateway::start(
            "site-a",
            &nats.url(),
            &rigs.iter().collect::<Vec<_>>(),
            &dir,
        );
        let mut client = FleetClient::connect(&nats.url());
        for rig in &rigs {
            wait_online(&mut client, rig.name, true);
        }
        Fleet {
            client,
            gateway,
            rigs,
            nats,
            _dir: dir,
        }
    }

    fn rig(&mut self, name: &str) -> &mut Rig {
        self.rigs
            .iter_mut()
            .find(|rig| rig.name == name)
            .unwrap_or_else(|| panic!("no rig {name}"))
    }

    fn status(&mut self) -> Value {
        let subject = self.gateway.status_subject();
        self.client.request(&subject, b"", REQUEST).json()
    }
}

/// Waits until the bucket says `rig` is `online`; returns its value.
fn wait_online(client: &mut FleetClient, rig: &str, online: bool) -> Value {
    client
        .kv_wait(BUCKET, rig, &json!({"online": online}), WAIT)
        .unwrap_or_else(|seen| panic!("{rig} not online={online} within {WAIT:?}; saw {seen:?}"))
}

/// The entry for `rig` in a gateway's status reply.
fn rig_status<'a>(status: &'a Value, rig: &str) -> &'a Value {
    status["rigs"]
        .as_array()
        .and_then(|rigs| rigs.iter().find(|r| r["rig"] == json!(rig)))
        .unwrap_or_else(|| panic!("no {rig} in the status {status}"))
}

// ---------------------------------------------------------------------
// The tests

/// The fixtures themselves, without a gateway: a server that restarts on
/// its port with its store, and the client that talks to it.
#[test]
fn the_nats_fixtures_work() {
    let mut nats = NatsServer::start();
    let port = nats.port();
    let mut client = FleetClient::connect(&nats.url());
    client.subscribe("probe.>", "probe");
    client.publish("probe.one", b"{\"n\": 1}");
    let got = client.messages("probe", 1, WAIT);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].subject, "probe.one");
    assert_eq!(got[0].json(), json!({"n": 1}));
    assert_eq!(
        client.request_with("nobody.home", b"", &[], REQUEST),
        Err("no-responders".to_owned())
    );

    nats.restart();
    assert_eq!(nats.port(), port);
    // The client reconnects by itself; its subscription comes back with it.
    eventually("a message after the restart", || {
        client.publish("probe.two", b"2");
        client
            .messages("probe", 2, Duration::from_millis(500))
            .iter()
            .any(|m| m.subject == "probe.two")
    });
}

/// Many commands at once, to the same rigs and to several: each gets its
/// own reply (one REQ socket per rig carries one request at a time).
#[test]
fn concurrent_commands_each_get_their_own_reply() {
    let mut fleet = Fleet::start();
    let mut requests = Vec::new();
    for nonce in 0..30 {
        let rig = ["rig-a", "rig-b", "rig-c"][nonce as usize % 3];
        requests.push((
            command_subject(rig),
            request_body(GET_STATUS, 1000 + nonce, Value::Null),
        ));
    }
    let replies = fleet.client.request_many(&requests, REQUEST);
    assert_eq!(replies.len(), requests.len());
    for (nonce, reply) in (0..).zip(&replies) {
        let reply = reply
            .as_ref()
            .unwrap_or_else(|error| panic!("request {nonce}: {error}"));
        let body = reply.json();
        assert_eq!(body["nonce"], json!(1000 + nonce), "{body}");
        assert_eq!(body["command"], json!(GET_STATUS), "{body}");
        assert_eq!(body["result"], json!(SUCCESS), "{body} {:?}", reply.headers);
    }
}

/// A gateway started again with other stream limits updates the stream
/// and keeps its history.
#[test]
fn the_stream_is_updated_at_start_and_keeps_its_history() {
    let nats = NatsServer::start();
    let mut rig = Rig::start("rig-c", RigKind::Reference);
    let dir = TempDir::new("stream-update");
    let mut gateway = Gateway::start("site-a", &nats.url(), &[&rig], &dir);
    let mut client = FleetClient::connect(&nats.url());
    wait_online(&mut client, "rig-c", true);
    rig.send_event(TUNNEL_ENTER, 1, json!({"n": 1}));
    let subject = format!("{PREFIX}.rig-c.event");
    let stored = client.stream_until(STREAM, &subject, WAIT, |m| !m.is_empty());
    assert_eq!(stored.len(), 1, "{stored:?}");
    let before = client.stream_info(STREAM)["config"].clone();
    assert!(before["max_age"].as_u64() > Some(0), "a max age: {before}");
    assert!(
        before["max_bytes"].as_i64() > Some(0),
        "a max size: {before}"
    );
    gateway.kill();

    let config = write_config("site-a", &nats.url(), &[&rig], &dir);
    let text = std::fs::read_to_string(&config)
        .expect("read config")
        .replacen(
            "[nats]\n",
            "[nats]\nmax_age = \"1h\"\nmax_bytes = 10000000\nduplicate_window = \"5m\"\n",
            1,
        );
    std::fs::write(&config, text).expect("write config");
    let _gateway = Gateway::run("site-a", &config);
    let after = client.stream_info(STREAM)["config"].clone();
    assert_eq!(after["max_age"], json!(3_600_000_000_000u64), "{after}");
    assert_eq!(after["max_bytes"], json!(10_000_000), "{after}");
    assert_eq!(
        after["duplicate_window"],
        json!(300_000_000_000u64),
        "{after}"
    );
    assert_eq!(
        client.stream(STREAM, &subject).len(),
        1,
        "the history stays"
    );
}

/// Commands to each rig through NATS: the reply is the rig's own, a
/// pending command's result comes on `P.<rig>.result.<nonce>` and in the
/// stream, an unknown rig and a malformed request get well-formed replies,
/// the gateway counts it all and stops cleanly on SIGTERM.
#[test]
fn commands_reach_each_rig_and_come_back_as_the_rig_sent_them() {
    let mut fleet = Fleet::start();

    // NONE: the very bytes a direct pyzmq REQ gets. GET_STATUS: the same
    // shape, the nonce echoed.
    for (index, name) in ["rig-a", "rig-b", "rig-c"].into_iter().enumerate() {
        let nonce = 40 + index as i64;
        let request = request_body(NONE, nonce, Value::Null);
        let via_nats = fleet
            .client
            .request(&command_subject(name), &request, REQUEST);
        assert_eq!(via_nats.header("Autotrainer-Error"), None, "{via_nats:?}");
        let direct = fleet.rig(name).direct_request(&request);
        assert_eq!(
            via_nats.text(),
            direct,
            "{name}: NONE through NATS and directly"
        );
        assert_eq!(via_nats.json()["nonce"], json!(nonce), "{name}");

        let nonce = 50 + index as i64;
        let request = request_body(GET_STATUS, nonce, Value::Null);
        let via_nats = fleet
            .client
            .request(&command_subject(name), &request, REQUEST)
            .json();
        let direct: Value =
            serde_json::from_str(&fleet.rig(name).direct_request(&request)).expect("JSON reply");
        assert_eq!(via_nats["nonce"], json!(nonce), "{name}: {via_nats}");
        assert_eq!(via_nats["command"], json!(GET_STATUS), "{name}: {via_nats}");
        assert_eq!(via_nats["result"], json!(SUCCESS), "{name}: {via_nats}");
        assert_eq!(
            shape(&via_nats),
            shape(&direct),
            "{name}: {via_nats} vs {direct}"
        );
    }

    // Pending commands: START_ACQUISITION (0.9), SET_APPLICATION_MODE
    // RUNNING (0.12); the result is subscribed to before sending.
    let pending = [
        ("rig-a", START_ACQUISITION, 77, Value::Null),
        ("rig-b", SET_APPLICATION_MODE, 78, json!({"mode": RUNNING})),
    ];
    for (name, command, nonce, data) in pending {
        let result_subject = format!("{PREFIX}.{name}.result.{nonce}");
        fleet.client.subscribe(&result_subject, name);
        let reply = fleet
            .client
            .request(
                &command_subject(name),
                &request_body(command, nonce, data),
                REQUEST,
            )
            .json();
        assert_eq!(
            reply["result"],
            json!(PENDING_WITH_NOTIFICATION),
            "{name}: {reply}"
        );
        assert_eq!(reply["nonce"], json!(nonce), "{name}: {reply}");

        let results = fleet.client.messages(name, 1, WAIT);
        let result = results
            .first()
            .unwrap_or_else(|| panic!("{name}: no message on {result_subject} within {WAIT:?}"));
        assert_eq!(result.subject, result_subject);
        let body = result.json();
        assert_eq!(body["result"], json!(SUCCESS), "{name}: {body}");
        assert_eq!(body["nonce"], json!(nonce), "{name}: {body}");
        assert_eq!(body["command"], json!(command), "{name}: {body}");
        assert_bridged_headers(result, name, COMMAND_RESULT_TOPIC, &["site-a"]);

        // The same message, stored: a consumer that was away reads it.
        let stored = fleet
            .client
            .stream_until(STREAM, &result_subject, WAIT, |m| !m.is_empty());
        assert_eq!(stored.len(), 1, "{name}: {stored:?}");
        assert_eq!(stored[0].body, result.body, "{name}");
    }

    // A rig the gateway does not know.
    let reply = fleet.client.request(
        &command_subject("rig-zz"),
        &request_body(GET_STATUS, 5, Value::Null),
        REQUEST,
    );
    assert_unavailable(&reply, "rig-zz", 5, "unknown-rig");

    // Malformed requests get the very reply the rig itself gives them
    // (UNRECOGNIZED, SYSTEM_ERROR; 0.9's compact JSON, 0.12's spacing) ...
    for name in ["rig-a", "rig-b"] {
        for malformed in [&b"not json"[..], br#"{"nonce": 3}"#, b"[1, 2]", b""] {
            let what = format!("{name}: {:?}", String::from_utf8_lossy(malformed));
            let via_nats = fleet
                .client
                .request(&command_subject(name), malformed, REQUEST);
            let direct = fleet.rig(name).direct_request(malformed);
            let body = via_nats.json();
            assert_eq!(body["result"], json!(UNRECOGNIZED), "{what}: {body}");
            assert_eq!(body["errorKind"], json!(SYSTEM_ERROR), "{what}: {body}");
            assert_eq!(via_nats.text(), direct, "{what}");
            assert_eq!(
                via_nats.header("Autotrainer-Error"),
                Some("malformed"),
                "{what}: {:?}",
                via_nats.headers
            );
        }
    }
    // ... without bothering the rig: the 0.9.11 reference, whose command
    // loop a malformed request would kill, sees none of them and answers on.
    let seen_before = fleet.rig("rig-c").requests().len();
    let reply = fleet
        .client
        .request(&command_subject("rig-c"), b"{\"nonce\": 9}", REQUEST);
    assert_eq!(reply.json()["result"], json!(UNRECOGNIZED), "{reply:?}");
    let reply = fleet
        .client
        .request(
            &command_subject("rig-c"),
            &request_body(NONE, 10, Value::Null),
            REQUEST,
        )
        .json();
    assert_eq!(
        reply["result"],
        json!(SUCCESS),
        "rig-c answers after a malformed request: {reply}"
    );
    fleet
        .rig("rig-c")
        .wait_line(0, |line| line["request"]["nonce"] == json!(10));
    let requests = fleet.rig("rig-c").requests();
    assert_eq!(
        requests.len(),
        seen_before + 1,
        "only the valid request reached rig-c: {requests:?}"
    );

    // The gateway's status.
    let status = fleet.status();
    assert_eq!(status["gateway"], json!("site-a"), "{status}");
    assert_eq!(
        status["version"],
        json!(env!("CARGO_PKG_VERSION")),
        "{status}"
    );
    for key in ["published", "dropped", "errors"] {
        assert!(status["nats"][key].is_u64(), "nats.{key}: {status}");
    }
    assert!(status["nats"]["published"].as_u64() > Some(0), "{status}");
    assert_eq!(status["rigs"].as_array().map(Vec::len), Some(3), "{status}");
    for (name, protocol, least_commands) in [
        ("rig-a", "0.9", 3),
        ("rig-b", "0.12", 3),
        ("rig-c", "0.9", 3),
    ] {
        let rig = rig_status(&status, name);
        assert_eq!(rig["online"], json!(true), "{rig}");
        assert_eq!(rig["protocol"], json!(protocol), "{rig}");
        for key in [
            "bridged",
            "dropped",
            "malformed",
            "commands",
            "timeouts",
            "reconnects",
        ] {
            assert!(rig[key].is_u64(), "{name}.{key}: {rig}");
        }
        assert!(rig["bridged"].as_u64() > Some(0), "{rig}");
        assert!(
            rig["commands"].as_u64() >= Some(least_commands),
            "{name}: at least {least_commands} commands: {rig}"
        );
    }

    // SIGTERM: a clean stop.
    let status = fleet.gateway.terminate();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "exit after SIGTERM: {status:?}"
    );
}

/// Events go to the stream in order, bodies unchanged, with their headers;
/// the bucket follows each rig's heartbeats; a rig that dies goes offline
/// (and a link event says so), and comes back online by itself when it is
/// restarted on its ports.
#[test]
fn events_are_stored_in_order_and_the_bucket_follows_each_rig() {
    let mut fleet = Fleet::start();

    // The bucket: what the heartbeats say, the protocol detected.
    for index in 0..fleet.rigs.len() {
        let (name, identifier, protocol) = {
            let rig = &fleet.rigs[index];
            (rig.name, rig.identifier(), rig.kind.protocol())
        };
        let heartbeat_subject = format!("{PREFIX}.{name}.heartbeat");
        fleet
            .client
            .subscribe(&heartbeat_subject, &heartbeat_subject);
        let heartbeats = fleet.client.messages(&heartbeat_subject, 1, WAIT);
        let heartbeat = heartbeats
            .first()
            .unwrap_or_else(|| panic!("no heartbeat on {heartbeat_subject}"));
        assert_bridged_headers(heartbeat, name, HEARTBEAT_TOPIC, &["site-a"]);
        let beat = heartbeat.json();
        assert_eq!(beat["identifier"], json!(identifier), "{beat}");

        let state = fleet
            .client
            .kv_get(BUCKET, name)
            .unwrap_or_else(|| panic!("no {name} in the bucket"));
        assert_eq!(state["rig"], json!(name), "{state}");
        assert_eq!(state["online"], json!(true), "{state}");
        assert_eq!(state["identifier"], json!(identifier), "{state}");
        assert_eq!(state["version"], beat["version"], "{state}");
        assert_eq!(state["protocol"], json!(protocol), "{state}");
        assert_eq!(state["gateway"], json!("site-a"), "{state}");
        assert_eq!(state["lastEmergency"], Value::Null, "{state}");
        for key in ["since", "lastHeartbeat"] {
            assert!(
                state[key].as_f64() > Some(1_600_000_000.0),
                "{key}: {state}"
            );
        }
    }
    assert_eq!(
        fleet
            .client
            .kv_get(BUCKET, "rig-c")
            .map(|s| s["version"].clone()),
        Some(json!("0.9.11"))
    );
    // The heartbeat's age goes on being written while nothing else changes.
    let first = fleet.client.kv_get(BUCKET, "rig-c").unwrap_or_default();
    eventually("rig-c's lastHeartbeat moves on", || {
        let now = fleet.client.kv_get(BUCKET, "rig-c").unwrap_or_default();
        now["lastHeartbeat"].as_f64() > first["lastHeartbeat"].as_f64()
            && now["since"] == first["since"]
    });

    // The stream as FLEET.md has it: file storage, two minutes of
    // duplicate window at least, no heartbeats.
    let info = fleet.client.stream_info(STREAM);
    let config = &info["config"];
    assert_eq!(config["storage"], json!("file"), "{config}");
    assert!(
        config["duplicate_window"].as_u64() >= Some(120_000_000_000),
        "{config}"
    );
    let subjects: Vec<&str> = config["subjects"]
        .as_array()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for subject in ["emergency", "event", "property", "result.>", "topic.>"] {
        let wanted = format!("{PREFIX}.*.{subject}");
        assert!(
            subjects.contains(&wanted.as_str()),
            "{wanted} in {subjects:?}"
        );
    }
    assert!(
        fleet
            .client
            .stream(STREAM, &format!("{PREFIX}.*.heartbeat"))
            .is_empty(),
        "heartbeats are not stored"
    );

    // Numbered events from the reference: stored in order, bytes unchanged
    // (Python's spacing and escapes), each with its headers.
    const EVENTS: i64 = 20;
    for n in 0..EVENTS {
        fleet
            .rig("rig-c")
            .send_event(TUNNEL_ENTER, n, json!({"n": n, "label": "café"}));
    }
    let event_subject = format!("{PREFIX}.rig-c.event");
    let stored = fleet
        .client
        .stream_until(STREAM, &event_subject, WAIT, |m| m.len() >= EVENTS as usize);
    assert_eq!(stored.len(), EVENTS as usize, "{stored:?}");
    for (n, message) in stored.iter().enumerate() {
        let expected = format!(
            "{{\"kind\": {TUNNEL_ENTER}, \"when\": 1700000000.5, \"index\": {n}, \
             \"context\": {{\"n\": {n}, \"label\": \"caf\\u00e9\"}}}}"
        );
        assert_eq!(message.text(), expected, "event {n} as the rig sent it");
        assert_bridged_headers(message, "rig-c", EVENT_TOPIC, &["site-a"]);
    }

    // A property change, and a topic FLEET.md does not name.
    let property = json!({"temperature": 21.5});
    fleet
        .rig("rig-c")
        .send_dict(PROPERTY_CHANGE_TOPIC, property.clone());
    fleet
        .rig("rig-c")
        .send_dict(OTHER_TOPIC, json!({"custom": 1}));
    for (subject, topic, body) in [
        ("property".to_owned(), PROPERTY_CHANGE_TOPIC, property),
        (
            format!("topic.{OTHER_TOPIC}"),
            OTHER_TOPIC,
            json!({"custom": 1}),
        ),
    ] {
        let subject = format!("{PREFIX}.rig-c.{subject}");
        let stored = fleet
            .client
            .stream_until(STREAM, &subject, WAIT, |m| !m.is_empty());
        assert_eq!(stored.len(), 1, "{subject}: {stored:?}");
        assert_eq!(stored[0].json(), body, "{subject}");
        assert_bridged_headers(&stored[0], "rig-c", topic, &["site-a"]);
    }

    // The same bytes published again are a new message, not a copy: each
    // is stored (the n-th time under the id with `-n` appended).
    let switches = [
        json!({"enabled": true}),
        json!({"enabled": false}),
        json!({"enabled": true}),
    ];
    for switch in &switches {
        fleet
            .rig("rig-c")
            .send_dict(PROPERTY_CHANGE_TOPIC, switch.clone());
    }
    let subject = format!("{PREFIX}.rig-c.property");
    let stored = fleet
        .client
        .stream_until(STREAM, &subject, WAIT, |m| m.len() >= 4);
    let bodies: Vec<Value> = stored.iter().skip(1).map(NatsMessage::json).collect();
    assert_eq!(bodies, switches, "{stored:?}");
    let first_id = stored[1].header("Nats-Msg-Id").expect("an id").to_owned();
    assert_eq!(
        stored[3].header("Nats-Msg-Id"),
        Some(format!("{first_id}-2").as_str())
    );

    // An event of a Rust rig: START_ACQUISITION's acquisitionStarted.
    let reply = fleet
        .client
        .request(
            &command_subject("rig-a"),
            &request_body(START_ACQUISITION, 1, Value::Null),
            REQUEST,
        )
        .json();
    assert_eq!(reply["result"], json!(PENDING_WITH_NOTIFICATION), "{reply}");
    let rig_a_events = format!("{PREFIX}.rig-a.event");
    let stored = fleet.client.stream_until(STREAM, &rig_a_events, WAIT, |m| {
        m.iter()
            .any(|m| m.json()["kind"] == json!(ACQUISITION_STARTED))
    });
    let started = stored
        .iter()
        .find(|m| m.json()["kind"] == json!(ACQUISITION_STARTED))
        .unwrap_or_else(|| panic!("no acquisitionStarted of rig-a stored: {stored:?}"));
    assert_bridged_headers(started, "rig-a", EVENT_TOPIC, &["site-a"]);

    // rig-a dies: offline in the bucket, a link event, commands answered
    // UNAVAILABLE (offline).
    let link_subject = format!("{PREFIX}.rig-a.link");
    fleet.client.subscribe(&link_subject, "links");
    fleet.rig("rig-a").kill();
    let state = wait_online(&mut fleet.client, "rig-a", false);
    assert!(state["since"].as_f64() > Some(1_600_000_000.0), "{state}");
    let links = fleet.client.messages("links", 1, WAIT);
    let link = links
        .first()
        .expect("a link event when rig-a went offline")
        .json();
    assert_eq!(link["rig"], json!("rig-a"), "{link}");
    assert_eq!(link["online"], json!(false), "{link}");
    assert!(link["at"].as_f64() > Some(1_600_000_000.0), "{link}");
    let reply = fleet.client.request(
        &command_subject("rig-a"),
        &request_body(GET_STATUS, 61, Value::Null),
        REQUEST,
    );
    assert_unavailable(&reply, "rig-a", 61, "offline");
    // The other rigs stay online.
    for name in ["rig-b", "rig-c"] {
        assert_eq!(
            fleet
                .client
                .kv_get(BUCKET, name)
                .map(|s| s["online"].clone()),
            Some(json!(true)),
            "{name}"
        );
    }

    // Restarted on its ports, it is online again without anyone's help.
    fleet.rig("rig-a").restart();
    let back = wait_online(&mut fleet.client, "rig-a", true);
    assert!(
        back["since"].as_f64() > state["since"].as_f64(),
        "since: when online last changed: {state} then {back}"
    );
    let links = fleet.client.messages("links", 2, WAIT);
    assert_eq!(links.len(), 2, "{links:?}");
    assert_eq!(links[1].json()["online"], json!(true), "{links:?}");
    // Stored too, after the one of the gateway's start.
    let online = |messages: &[NatsMessage]| -> Vec<Value> {
        messages
            .iter()
            .map(|m| m.json()["online"].clone())
            .collect()
    };
    let stored_links = fleet.client.stream_until(STREAM, &link_subject, WAIT, |m| {
        online(m).ends_with(&[json!(false), json!(true)])
    });
    assert_eq!(
        online(&stored_links),
        [json!(true), json!(false), json!(true)],
        "link events are stored"
    );
    let mut answered = false;
    eventually("rig-a answers through NATS after its restart", || {
        let reply = fleet
            .client
            .request(
                &command_subject("rig-a"),
                &request_body(GET_STATUS, 62, Value::Null),
                REQUEST,
            )
            .json();
        answered = reply["result"] == json!(SUCCESS);
        answered
    });
}

/// `P.fleet.emergency-stop` stops every online rig, says which were offline,
/// and each emergency is stored and kept in the bucket.
#[test]
fn a_fleet_emergency_stop_reaches_every_online_rig() {
    let mut fleet = Fleet::start();
    fleet.rig("rig-b").kill();
    wait_online(&mut fleet.client, "rig-b", false);

    let reply = fleet
        .client
        .request(
            &format!("{PREFIX}.fleet.emergency-stop"),
            br#"{"data": {"reason": "drill"}}"#,
            REQUEST,
        )
        .json();
    assert_eq!(reply["gateway"], json!("site-a"), "{reply}");
    for name in ["rig-a", "rig-c"] {
        let entry = rig_status(&reply, name);
        assert_eq!(entry["outcome"], json!("replied"), "{entry}");
        assert_eq!(entry["reply"]["command"], json!(EMERGENCY_STOP), "{entry}");
        assert_eq!(entry["reply"]["result"], json!(SUCCESS), "{entry}");
    }
    let entry = rig_status(&reply, "rig-b");
    assert_eq!(entry["outcome"], json!("offline"), "{entry}");
    assert!(entry["error"].is_string(), "{entry}");

    // The reference's delegate got EMERGENCY_STOP with the data (a reason
    // without spaces or capitals: the 0.9.11 reference decamelizes the
    // whole request text, values too).
    let request = fleet.rig("rig-c").wait_line(0, |line| {
        line["request"]["command"] == json!(EMERGENCY_STOP)
    });
    assert_eq!(
        request["request"]["data"],
        json!({"reason": "drill"}),
        "{request}"
    );

    // rig-a published its emergency: stored, and kept in the bucket.
    let subject = format!("{PREFIX}.rig-a.emergency");
    let stored = fleet
        .client
        .stream_until(STREAM, &subject, WAIT, |m| !m.is_empty());
    let emergency = stored.first().expect("rig-a's emergency is stored");
    assert_bridged_headers(emergency, "rig-a", EMERGENCY_TOPIC, &["site-a"]);
    assert_eq!(emergency.json()["context"]["reason"], json!("drill"));
    let mut state = Value::Null;
    eventually("rig-a's lastEmergency in the bucket", || {
        state = fleet.client.kv_get(BUCKET, "rig-a").unwrap_or_default();
        !state["lastEmergency"].is_null()
    });
    let last = &state["lastEmergency"];
    assert_eq!(last["event"], emergency.json(), "{state}");
    assert!(last["at"].as_f64() > Some(1_600_000_000.0), "{state}");
}

/// Two gateways bridging the same rig: each command is handled once (queue
/// group), and events published while one gateway is killed are all stored,
/// each exactly once (`Nats-Msg-Id`).
#[test]
fn two_gateways_store_every_event_exactly_once() {
    let nats = NatsServer::start();
    let mut rig = Rig::start("rig-c", RigKind::Reference);
    let dir = TempDir::new("gateways");
    let mut first = Gateway::start("site-a", &nats.url(), &[&rig], &dir);
    let second = Gateway::start("site-b", &nats.url(), &[&rig], &dir);
    let mut client = FleetClient::connect(&nats.url());
    // Both bridge the rig: each has seen its heartbeats.
    for gateway in [&first, &second] {
        eventually(&format!("{} sees rig-c online", gateway.name), || {
            let status = client
                .request(&gateway.status_subject(), b"", REQUEST)
                .json();
            let rig = rig_status(&status, "rig-c");
            rig["online"] == json!(true) && rig["bridged"].as_u64() > Some(0)
        });
    }

    // Ten commands, each answered once and seen once by the rig.
    for nonce in 0..10 {
        let reply = client
            .request(
                &command_subject("rig-c"),
                &request_body(NONE, nonce, Value::Null),
                REQUEST,
            )
            .json();
        assert_eq!(reply["nonce"], json!(nonce), "{reply}");
    }
    rig.wait_line(0, |line| line["request"]["nonce"] == json!(9));
    assert_eq!(rig.requests().len(), 10, "{:?}", rig.requests());
    let handled: u64 = [&first, &second]
        .iter()
        .map(|gateway| {
            let status = client
                .request(&gateway.status_subject(), b"", REQUEST)
                .json();
            rig_status(&status, "rig-c")["commands"]
                .as_u64()
                .unwrap_or_default()
        })
        .sum();
    assert_eq!(handled, 10, "the two gateways handled each command once");

    // Numbered events; site-a is killed half way.
    const EVENTS: i64 = 300;
    for n in 0..EVENTS {
        if n == EVENTS / 2 {
            first.kill();
        }
        rig.send_event(TUNNEL_ENTER, n, json!({"n": n}));
    }
    let subject = format!("{PREFIX}.rig-c.event");
    let stored = client.stream_until(STREAM, &subject, WAIT, |m| m.len() >= EVENTS as usize);
    let mut counts = vec![0; EVENTS as usize];
    for message in &stored {
        assert_bridged_headers(message, "rig-c", EVENT_TOPIC, &["site-a", "site-b"]);
        let n = message.json()["index"].as_u64().expect("an index") as usize;
        counts[n] += 1;
    }
    let wrong: Vec<(usize, i32)> = counts
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, count)| *count != 1)
        .collect();
    assert!(
        wrong.is_empty(),
        "events stored other than once (index, count): {wrong:?}"
    );

    // site-b bridged every event (the copies of those site-a bridged too
    // were dropped by their Nats-Msg-Id).
    let status = client
        .request(&second.status_subject(), b"", REQUEST)
        .json();
    assert!(
        rig_status(&status, "rig-c")["bridged"].as_u64() >= Some(EVENTS as u64),
        "{status}"
    );

    // site-b goes on answering commands alone.
    let reply = client
        .request(
            &command_subject("rig-c"),
            &request_body(NONE, 99, Value::Null),
            REQUEST,
        )
        .json();
    assert_eq!(reply["result"], json!(SUCCESS), "{reply}");
    drop(second);
}

/// rig-c publishes event 0 (`{"n": 0}`) and the stream stores it: the
/// history the restart tests start from. Returns the event subject.
fn first_event_stored(fleet: &mut Fleet) -> String {
    let subject = format!("{PREFIX}.rig-c.event");
    fleet
        .rig("rig-c")
        .send_event(TUNNEL_ENTER, 0, json!({"n": 0}));
    let stored = fleet
        .client
        .stream_until(STREAM, &subject, WAIT, |m| !m.is_empty());
    assert_eq!(stored.len(), 1, "{stored:?}");
    subject
}

/// The NATS server dies and comes back on its port with its store: the
/// gateway reconnects by itself, commands work again, new events are
/// stored after the history.
#[test]
fn the_gateway_rides_out_a_nats_restart() {
    let mut fleet = Fleet::start();
    let subject = first_event_stored(&mut fleet);

    fleet.nats.restart();
    eventually("rig-c answers through NATS after the restart", || {
        fleet
            .client
            .request_with(
                &command_subject("rig-c"),
                &request_body(NONE, 7, Value::Null),
                &[],
                REQUEST,
            )
            .is_ok_and(|reply| reply.json()["result"] == json!(SUCCESS))
    });
    fleet
        .rig("rig-c")
        .send_event(TUNNEL_ENTER, 1, json!({"n": 1}));
    let stored = fleet
        .client
        .stream_until(STREAM, &subject, WAIT, |m| m.len() >= 2);
    let indices: Vec<Value> = stored.iter().map(|m| m.json()["index"].clone()).collect();
    assert_eq!(indices, [json!(0), json!(1)]);
    wait_online(&mut fleet.client, "rig-c", true);
}

/// Events a rig publishes while the NATS server is down reach the stream
/// once it is back (the gateway holds them, FLEET.md's buffer). With core
/// NATS publishing the one written to the connection as the server died was
/// lost now and then; stored subjects now go through JetStream, published
/// again until acknowledged (the Nats-Msg-Id drops the copies).
#[test]
fn events_published_while_nats_is_down_are_stored_when_it_is_back() {
    let mut fleet = Fleet::start();
    let subject = first_event_stored(&mut fleet);

    fleet.nats.kill();
    for n in 1..=5 {
        fleet
            .rig("rig-c")
            .send_event(TUNNEL_ENTER, n, json!({"n": n}));
    }
    fleet.nats.restart();

    let stored = fleet
        .client
        .stream_until(STREAM, &subject, WAIT, |m| m.len() >= 6);
    let indices: Vec<Value> = stored.iter().map(|m| m.json()["index"].clone()).collect();
    assert_eq!(
        indices,
        (0..=5).map(|n| json!(n)).collect::<Vec<_>>(),
        "events published while NATS was down"
    );
}

/// A rig that does not answer within the command timeout: the request gets
/// a timeout reply, and the gateway recovers its socket, so the next
/// commands get their own replies (never the late one).
#[test]
fn a_rig_too_slow_to_answer_gets_a_timeout_reply_and_then_answers_again() {
    let nats = NatsServer::start();
    // GET_CONFIGURATION takes 5 s (the command timeout is 2 s); its
    // heartbeats go on meanwhile.
    let rig = Rig::reference_with_answers("rig-c", json!({"300": {"sleep": 5}}));
    let dir = TempDir::new("slow-rig");
    let gateway = Gateway::start("site-a", &nats.url(), &[&rig], &dir);
    let mut client = FleetClient::connect(&nats.url());
    wait_online(&mut client, "rig-c", true);

    let reply = client.request(
        &command_subject("rig-c"),
        &request_body(GET_CONFIGURATION, 1, Value::Null),
        REQUEST,
    );
    assert_unavailable(&reply, "rig-c", 1, "timeout");

    let mut nonce = 1;
    eventually("rig-c answers through NATS again", || {
        nonce += 1;
        let reply = client
            .request(
                &command_subject("rig-c"),
                &request_body(NONE, nonce, Value::Null),
                REQUEST,
            )
            .json();
        assert_eq!(
            reply["nonce"],
            json!(nonce),
            "a reply to this request: {reply}"
        );
        reply["result"] == json!(SUCCESS)
    });

    let status = client
        .request(&gateway.status_subject(), b"", REQUEST)
        .json();
    let rig_state = rig_status(&status, "rig-c");
    assert!(rig_state["timeouts"].as_u64() >= Some(1), "{status}");
    assert_eq!(rig_state["online"], json!(true), "{status}");
}

/// Rigs added by a reload request and removed by SIGHUP, without a
/// restart; a configuration that cannot be used is refused and the rigs in
/// use stay.
#[test]
fn rigs_are_added_and_removed_without_a_restart() {
    let nats = NatsServer::start();
    let rig_a = Rig::start("rig-a", RigKind::App);
    let rig_c = Rig::start("rig-c", RigKind::Reference);
    let dir = TempDir::new("reload");
    let gateway = Gateway::start("site-a", &nats.url(), &[&rig_a], &dir);
    let mut client = FleetClient::connect(&nats.url());
    wait_online(&mut client, "rig-a", true);
    let reply = client.request(
        &command_subject("rig-c"),
        &request_body(NONE, 1, Value::Null),
        REQUEST,
    );
    assert_unavailable(&reply, "rig-c", 1, "unknown-rig");

    // Added by a reload request.
    write_config("site-a", &nats.url(), &[&rig_a, &rig_c], &dir);
    let reply = client
        .request(&gateway.reload_subject(), b"", REQUEST)
        .json();
    assert_eq!(reply["ok"], json!(true), "{reply}");
    assert_eq!(reply["added"], json!(["rig-c"]), "{reply}");
    assert_eq!(reply["removed"], json!([]), "{reply}");
    wait_online(&mut client, "rig-c", true);
    let reply = client
        .request(
            &command_subject("rig-c"),
            &request_body(NONE, 2, Value::Null),
            REQUEST,
        )
        .json();
    assert_eq!(reply["result"], json!(SUCCESS), "{reply}");

    // A configuration that cannot be used: refused, nothing changes.
    let config = dir.join("site-a.toml");
    std::fs::write(&config, "[gateway]\nname = \"site-a\"\ncolour = \"blue\"\n")
        .expect("write config");
    let reply = client
        .request(&gateway.reload_subject(), b"", REQUEST)
        .json();
    assert_eq!(reply["ok"], json!(false), "{reply}");
    assert!(reply["error"].is_string(), "{reply}");
    let status = client
        .request(&gateway.status_subject(), b"", REQUEST)
        .json();
    assert_eq!(status["rigs"].as_array().map(Vec::len), Some(2), "{status}");

    // Removed by SIGHUP.
    write_config("site-a", &nats.url(), &[&rig_c], &dir);
    gateway.hang_up();
    eventually("rig-a is no longer bridged", || {
        let reply = client.request(
            &command_subject("rig-a"),
            &request_body(NONE, 3, Value::Null),
            REQUEST,
        );
        reply.header("Autotrainer-Error") == Some("unknown-rig")
    });
    let status = client
        .request(&gateway.status_subject(), b"", REQUEST)
        .json();
    let rigs: Vec<&Value> = status["rigs"]
        .as_array()
        .iter()
        .flat_map(|r| r.iter())
        .collect();
    assert_eq!(rigs.len(), 1, "{status}");
    assert_eq!(rigs[0]["rig"], json!("rig-c"), "{status}");
    let reply = client
        .request(
            &command_subject("rig-c"),
            &request_body(NONE, 4, Value::Null),
            REQUEST,
        )
        .json();
    assert_eq!(reply["result"], json!(SUCCESS), "{reply}");
}

/// A rig that takes signed commands only (PROTOCOL.md): the gateway signs
/// what it forwards with the rig's key, so commands through NATS go
/// through, while an unsigned request straight to the rig is refused.
#[test]
fn the_gateway_signs_the_commands_of_a_rig_that_requires_it() {
    let nats = NatsServer::start();
    let dir = TempDir::new("signed");
    let key_file = dir.join("rig-s.keys.toml");
    std::fs::write(
        &key_file,
        format!(
            "[[key]]\nid = \"{GATEWAY_KEY_ID}\"\n\
             secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nrole = \"operator\"\n\n\
             [roles]\nviewer = [\"NONE\", \"GET_STATUS\"]\noperator = [\"*\"]\n"
        ),
    )
    .expect("write the key file");
    let rig = Rig::app_with_keys("rig-s", key_file);
    let _gateway = Gateway::start("site-a", &nats.url(), &[&rig], &dir);
    let mut client = FleetClient::connect(&nats.url());
    wait_online(&mut client, "rig-s", true);

    let request = request_body(GET_STATUS, 5, Value::Null);
    let direct: Value = serde_json::from_str(&rig.direct_request(&request)).expect("JSON reply");
    assert_eq!(
        direct["result"],
        json!(FAILED),
        "unsigned, refused: {direct}"
    );
    assert_eq!(direct["errorCode"], json!(401), "{direct}");

    let reply = client.request(&command_subject("rig-s"), &request, REQUEST);
    assert_eq!(reply.header("Autotrainer-Error"), None, "{reply:?}");
    let body = reply.json();
    assert_eq!(
        body["result"],
        json!(SUCCESS),
        "signed by the gateway: {body}"
    );
    assert_eq!(body["nonce"], json!(5), "{body}");
    assert_eq!(body["command"], json!(GET_STATUS), "{body}");

    let reply = client
        .request(&format!("{PREFIX}.fleet.emergency-stop"), b"", REQUEST)
        .json();
    let entry = rig_status(&reply, "rig-s");
    assert_eq!(entry["outcome"], json!("replied"), "{entry}");
    assert_eq!(entry["reply"]["result"], json!(SUCCESS), "{entry}");
}

/// Two gateways bridging different rigs (one per site) on one NATS server:
/// a command reaches its rig whichever gateway NATS hands it to, and the
/// fleet-wide emergency stop reaches the rigs of both.
///
/// (A first gateway took `P.*.command` in one queue group for every rig, so
/// NATS handed about half the commands to the gateway without the rig; each
/// rig's commands now have their own subscription, and the fleet stop goes
/// to every rig of the bucket through NATS.)
#[test]
fn gateways_of_different_rigs_share_one_nats() {
    let nats = NatsServer::start();
    let mut rig_a = Rig::start("rig-a", RigKind::App);
    let mut rig_c = Rig::start("rig-c", RigKind::Reference);
    let dir = TempDir::new("sites");
    let _site_a = Gateway::start("site-a", &nats.url(), &[&rig_a], &dir);
    let _site_b = Gateway::start("site-b", &nats.url(), &[&rig_c], &dir);
    let mut client = FleetClient::connect(&nats.url());
    wait_online(&mut client, "rig-a", true);
    wait_online(&mut client, "rig-c", true);

    let mut failures = Vec::new();
    for nonce in 0..10 {
        for rig in [&rig_a, &rig_c] {
            let reply = client.request(
                &command_subject(rig.name),
                &request_body(NONE, nonce, Value::Null),
                REQUEST,
            );
            if reply.header("Autotrainer-Error").is_some() {
                failures.push(format!(
                    "{}: {:?} {}",
                    rig.name,
                    reply.headers,
                    reply.text()
                ));
            }
        }
    }

    // Every rig stopped, whichever gateway took the request.
    let reply = client
        .request(&format!("{PREFIX}.fleet.emergency-stop"), b"", REQUEST)
        .text();
    let subject = format!("{PREFIX}.rig-a.emergency");
    if client
        .stream_until(STREAM, &subject, WAIT, |m| !m.is_empty())
        .is_empty()
    {
        failures.push(format!(
            "the emergency stop missed rig-a; its reply: {reply}"
        ));
    }
    let stopped = rig_c
        .requests()
        .iter()
        .any(|request| request["command"] == json!(EMERGENCY_STOP));
    if !stopped {
        failures.push(format!(
            "the emergency stop missed rig-c; its reply: {reply}"
        ));
    }
    assert!(failures.is_empty(), "{failures:#?}");
    rig_a.kill();
}

/// `AUTOTRAINER_NATS_URL` overrides the file's NATS URL; SIGINT stops the
/// gateway cleanly.
#[test]
fn the_environment_overrides_the_nats_url() {
    let nats = NatsServer::start();
    let dir = TempDir::new("env-url");
    // Nothing listens on port 1.
    let config = write_config("site-a", "nats://127.0.0.1:1", &[], &dir);
    let mut child = gateway_command(GATEWAY_EXE, &config)
        .env("AUTOTRAINER_NATS_URL", nats.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start auto-trainer-gateway");
    let stdout = read_lines(child.stdout.take().expect("piped stdout"), "gateway stdout");
    let _stderr = read_lines(child.stderr.take().expect("piped stderr"), "gateway");
    let ready = line_containing(&stdout, "ready:", WAIT);
    assert!(ready.starts_with("ready:"), "{ready}");
    let mut client = FleetClient::connect(&nats.url());
    let status = client
        .request(&format!("{PREFIX}.gateway.site-a.status"), b"", REQUEST)
        .json();
    assert_eq!(status["gateway"], json!("site-a"), "{status}");

    let signal = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status()
        .expect("cannot run kill");
    assert!(signal.success());
    let status = wait_child(&mut child, WAIT);
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "exit after SIGINT: {status:?}"
    );
}

/// A configuration the gateway cannot run with ends it at once with exit
/// code 2 and a message on stderr.
#[test]
fn a_bad_configuration_is_refused_with_exit_code_2() {
    let nats = NatsServer::start();
    let dir = TempDir::new("bad-config");
    let rig = |name: &str| {
        format!(
            "\n[[rig]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\npub_port = 5556\ncmd_port = 5557\n"
        )
    };
    let head = format!(
        "[gateway]\nname = \"site-a\"\n\n[nats]\nurl = \"{}\"\n",
        nats.url()
    );
    let cases = [
        ("reserved rig name fleet", format!("{head}{}", rig("fleet"))),
        (
            "reserved rig name gateway",
            format!("{head}{}", rig("gateway")),
        ),
        ("a dot in a rig name", format!("{head}{}", rig("rig.7"))),
        (
            "a duplicate rig",
            format!("{head}{}{}", rig("rig-7"), rig("rig-7")),
        ),
        (
            "an unknown key",
            format!("{head}colour = \"blue\"\n{}", rig("rig-7")),
        ),
    ];
    for (index, (case, text)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad-{index}.toml"));
        std::fs::write(&path, text).expect("write config");
        let run = run_to_end(&mut gateway_command(GATEWAY_EXE, &path), WAIT);
        assert_eq!(
            run.code,
            Some(2),
            "{case}: exit code; stderr: {}",
            run.stderr
        );
        assert!(!run.stderr.trim().is_empty(), "{case}: a message on stderr");
        assert!(!run.stdout.contains("ready:"), "{case}: {}", run.stdout);
    }
}
