//! Helpers to run the Python side of the interop tests: the reference service
//! (`tests/python/reference_service.py`) and the raw pyzmq peer
//! (`tests/python/zmq_peer.py`), in the venv made by
//! `scripts/python-test-env.sh`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The repository's root directory: the crate's own for the library's
/// tests, the workspace's for a member's (the gateway's `gateway/tests/`
/// include these helpers too).
pub fn repo_dir() -> &'static Path {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|dir| dir.join("scripts").join("python-test-env.sh").is_file())
        .unwrap_or(manifest)
}

/// The venv's Python interpreter (the 0.9.11 reference). The first call in
/// a test process runs `scripts/python-test-env.sh` (which creates the venv
/// if needed) and panics with its stderr when that fails.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| venv_python("0.9")).clone()
}

/// The interpreter of the 0.12 reference's venv
/// (`scripts/python-test-env.sh 0.12`), made as [`python`] makes its own.
pub fn python_v0_12() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| venv_python("0.12")).clone()
}

/// The interpreter of the fleet's venv (`scripts/python-test-env.sh
/// fleet`: nats-py, and `nats-server` beside the interpreter), made as
/// [`python`] makes its own.
pub fn python_fleet() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| venv_python("fleet")).clone()
}

/// The interpreter of the bridge's venv (`scripts/python-test-env.sh
/// bridge`: python-socketio with its client transports, and pyzmq), made
/// as [`python`] makes its own.
pub fn python_bridge() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| venv_python("bridge")).clone()
}

/// Runs `scripts/python-test-env.sh <generation>` (or `fleet`, `bridge`) and returns
/// the interpreter it prints last.
fn venv_python(generation: &str) -> PathBuf {
    let script = repo_dir().join("scripts").join("python-test-env.sh");
    let output = Command::new("bash")
        .arg(&script)
        .arg(generation)
        .current_dir(repo_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        panic!(
            "{} {generation} failed ({}):\n--- stderr ---\n{}\n--- stdout ---\n{}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr),
            stdout
        );
    }
    let last = stdout
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or_else(|| panic!("{} printed no interpreter path", script.display()));
    let path = PathBuf::from(last);
    assert!(
        path.exists(),
        "{} printed {}, which does not exist",
        script.display(),
        path.display()
    );
    path
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// Writes `value` as JSON to a fresh file under the system temp directory and
/// returns its path (e.g. an `--answers` file for the reference service).
pub fn temp_json_file(stem: &str, value: &Value) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join("auto-trainer-api-tests");
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let path = dir.join(format!("{stem}-{}-{n}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_vec_pretty(value).expect("serialize"))
        .expect("write temp json file");
    path
}

/// A raw pyzmq SUB peer (`zmq_peer sub`) connected to `endpoint` and
/// subscribed to `topics` (everything when empty). It prints each message as
/// a JSON line and exits after `count` messages, or after `timeout_secs`
/// seconds. Wait for its ready line before relying on it.
pub fn spawn_zmq_sub(endpoint: &str, count: u64, timeout_secs: u64, topics: &[u32]) -> PyProcess {
    spawn_zmq_sub_with(python(), endpoint, count, timeout_secs, topics)
}

/// [`spawn_zmq_sub`] run by `python` (any venv with pyzmq, for instance
/// [`python_bridge`]).
pub fn spawn_zmq_sub_with(
    python: PathBuf,
    endpoint: &str,
    count: u64,
    timeout_secs: u64,
    topics: &[u32],
) -> PyProcess {
    let mut args = vec![
        "sub".to_owned(),
        "--endpoint".to_owned(),
        endpoint.to_owned(),
        "--count".to_owned(),
        count.to_string(),
        "--timeout".to_owned(),
        timeout_secs.to_string(),
    ];
    for topic in topics {
        args.push("--topic".to_owned());
        args.push(topic.to_string());
    }
    PyProcess::spawn_with(python, "zmq_peer", &args)
}

/// A Python script from `tests/python/` running in the test venv. Stdout is
/// parsed line by line into JSON values by a background thread (a line that
/// is not JSON arrives as `{"unparsed": "<line>"}`); stderr is inherited.
/// Dropping it kills the process.
pub struct PyProcess {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
}

impl PyProcess {
    /// Spawns `tests/python/<script>.py` (`script` may omit the `.py`) with
    /// the 0.9.11 venv's [`python`].
    pub fn spawn<S: AsRef<str>>(script: &str, args: &[S]) -> PyProcess {
        Self::spawn_with(python(), script, args)
    }

    /// Spawns `tests/python/<script>.py` with the interpreter `python` (for
    /// instance [`python_v0_12`]).
    pub fn spawn_with<S: AsRef<str>>(python: PathBuf, script: &str, args: &[S]) -> PyProcess {
        let file = if script.ends_with(".py") {
            script.to_string()
        } else {
            format!("{script}.py")
        };
        let path = repo_dir().join("tests").join("python").join(&file);
        assert!(path.exists(), "no such script: {}", path.display());

        let mut child = Command::new(python)
            .arg("-u")
            .arg(&path)
            .args(args.iter().map(|a| a.as_ref()))
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONIOENCODING", "utf-8")
            .current_dir(repo_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", path.display()));

        let stdout = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        let name = file.clone();
        thread::Builder::new()
            .name(format!("py-stdout-{file}"))
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let trimmed = line.trim();
                    if trimmed.is_empty() {
                        continue;
                    }
                    let value = serde_json::from_str(trimmed).unwrap_or_else(|_| {
                        eprintln!("[{name}] non-JSON stdout line: {trimmed}");
                        serde_json::json!({ "unparsed": trimmed })
                    });
                    if tx.send(value).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn stdout reader thread");

        PyProcess {
            name: file,
            child,
            stdin,
            lines: rx,
        }
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Writes `value` as one JSON line to the child's stdin and flushes.
    pub fn send_line(&mut self, value: &Value) {
        let name = &self.name;
        let stdin = self
            .stdin
            .as_mut()
            .unwrap_or_else(|| panic!("[{name}] stdin already closed"));
        let mut line = serde_json::to_string(value).expect("serialize line");
        line.push('\n');
        stdin
            .write_all(line.as_bytes())
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("[{name}] cannot write to stdin: {e}"));
    }

    /// The next stdout line, or `None` if none arrives within `timeout` (or
    /// the process closed its stdout).
    pub fn next_line(&self, timeout: Duration) -> Option<Value> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// The first stdout line within `timeout` for which `predicate` holds;
    /// earlier lines are consumed and discarded.
    pub fn wait_for<F>(&self, timeout: Duration, mut predicate: F) -> Option<Value>
    where
        F: FnMut(&Value) -> bool,
    {
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return None;
            }
            let value = self.next_line(remaining)?;
            if predicate(&value) {
                return Some(value);
            }
        }
    }

    /// Waits (bounded) for the `{"ready": true, ...}` line and returns it;
    /// panics if it does not come.
    pub fn expect_ready(&self, timeout: Duration) -> Value {
        let name = &self.name;
        self.wait_for(timeout, |v| v.get("ready") == Some(&Value::Bool(true)))
            .unwrap_or_else(|| panic!("[{name}] not ready within {timeout:?}"))
    }

    /// Closes the child's stdin (the scripts treat EOF as "finish and exit").
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) => {}
                Err(e) => panic!("[{}] try_wait failed: {e}", self.name),
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends SIGTERM (via `kill -TERM`).
    #[cfg(unix)]
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Kills the process and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PyProcess {
    fn drop(&mut self) {
        self.stdin.take();
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A real Python reference service (tests/python/reference_service.py, or
/// reference_service_v0_12.py), ready, on ports the OS picked.
pub struct ReferenceService {
    pub process: PyProcess,
    pub pub_port: u16,
    pub cmd_port: u16,
}

/// Starts the reference service on ports the OS picks (no port is chosen
/// here and released, so none can be taken meanwhile), its delegate
/// answering from `answers` when given, with `extra` arguments after the
/// common ones, and waits up to `ready_within` until both ports accept.
pub fn start_reference_service(
    heartbeat_interval: &str,
    answers: Option<&Value>,
    extra: &[&str],
    ready_within: Duration,
) -> ReferenceService {
    start_reference_script(
        python(),
        "reference_service",
        heartbeat_interval,
        answers,
        extra,
        ready_within,
    )
}

/// [`start_reference_service`] for `script` (the 0.9.11 or the 0.12 one)
/// run by `python` (the venv of its generation).
pub fn start_reference_script(
    python: PathBuf,
    script: &str,
    heartbeat_interval: &str,
    answers: Option<&Value>,
    extra: &[&str],
    ready_within: Duration,
) -> ReferenceService {
    let mut args = vec![
        "--pub-port".to_owned(),
        "0".to_owned(),
        "--cmd-port".to_owned(),
        "0".to_owned(),
        "--heartbeat-interval".to_owned(),
        heartbeat_interval.to_owned(),
    ];
    if let Some(answers) = answers {
        args.push("--answers".to_owned());
        args.push(temp_json_file("answers", answers).display().to_string());
    }
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let process = PyProcess::spawn_with(python, script, &args);
    let ready = process.expect_ready(ready_within);
    let port = |key: &str| {
        ready[key]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| panic!("no {key} in the reference's ready line: {ready}"))
    };
    ReferenceService {
        pub_port: port("pub_port"),
        cmd_port: port("cmd_port"),
        process,
    }
}

/// Requires our delegate to have seen `ours` where a reference delegate
/// logged `theirs` (its `{"request": ...}` line): the same command number,
/// nonce, custom command and data.
pub fn assert_same_request<C: auto_trainer_api::WireCode>(
    ours: &auto_trainer_api::ApiCommandRequest<C>,
    theirs: &Value,
    request: &str,
) {
    assert_eq!(ours.command.code(), theirs["command"], "{request}");
    assert_eq!(ours.nonce, theirs["nonce"], "{request}");
    assert_eq!(ours.custom_command, theirs["custom_command"], "{request}");
    assert_eq!(
        ours.data.clone().unwrap_or(Value::Null),
        theirs["data"],
        "{request}"
    );
}
