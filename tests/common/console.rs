//! The `remote_console` example driven as a person or a script would: the
//! stand-in device it talks to (`client_application`), the console run to
//! its end, `listen` in the background, and the prompt in a
//! pseudo-terminal (`tests/python/pty_drive.py`). Shared by the console's
//! own tests (`tests/remote_console.rs`) and the fleet's
//! (`gateway/tests/remote_console.rs`: the console through the gateway).

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use auto_trainer_api::KEY_ENV;
use serde_json::{json, Value};

use super::examples::{
    built_example, line_containing, port_after, read_lines, run_to_end, wait_child, Run,
};
use super::python::PyProcess;

/// The stand-in device's GET_STATUS data when idle, as the console shows it.
pub const IDLE: &str = r#"SUCCESS {"app_status":0,"training_mode":100,"animal_id":""}"#;

pub const STARTUP: Duration = Duration::from_secs(30);
pub const EXIT: Duration = Duration::from_secs(20);

/// The stand-in device, without a terminal (it serves until SIGTERM).
pub struct Device {
    child: Child,
    pub pub_port: u16,
    pub cmd_port: u16,
    /// Its log (stderr) after the line saying it started.
    pub log: Receiver<String>,
}

impl Device {
    /// Starts it on the given ports (0: the OS picks one) and waits until it
    /// serves; `pub_port` and `cmd_port` are then the ports it bound.
    pub fn start(identifier: &str, pub_port: u16, cmd_port: u16) -> Device {
        Device::start_with(identifier, pub_port, cmd_port, &[])
    }

    /// [`Device::start`] with `extra` arguments (such as `--protocol 0.12`).
    pub fn start_with(identifier: &str, pub_port: u16, cmd_port: u16, extra: &[&str]) -> Device {
        let mut child = Command::new(built_example("client_application"))
            .args(["--identifier", identifier, "--bind", "127.0.0.1"])
            .args(["--pub-port", &pub_port.to_string()])
            .args(["--cmd-port", &cmd_port.to_string()])
            .args(["--heartbeat-interval", "0.2", "--start-delay", "1"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start client_application");
        let stderr = read_lines(
            child.stderr.take().expect("piped stderr"),
            "client_application",
        );
        // api service started identifier=... subscriber_port=N command_port=M
        let line = line_containing(&stderr, "api service started", STARTUP);
        let port = |label: &str| {
            port_after(label, &line).unwrap_or_else(|| panic!("no {label}<port> in {line:?}"))
        };
        Device {
            pub_port: port("subscriber_port="),
            cmd_port: port("command_port="),
            child,
            log: stderr,
        }
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Stops it with SIGTERM, as a service manager would, and waits.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = wait_child(&mut self.child, EXIT).expect("client_application exits");
        assert!(status.success(), "client_application exited with {status}");
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Runs the console with `args` and waits (bounded) for it to exit; no
/// signing key comes from the environment.
pub fn console(args: &[&str]) -> Run {
    run_to_end(
        Command::new(built_example("remote_console"))
            .args(args)
            .env_remove(KEY_ENV),
        EXIT,
    )
}

/// The nonce in `reply to COMMAND (nonce N): ...`, the first line of `stdout`.
pub fn reply_nonce(stdout: &str, command: &str) -> i64 {
    let prefix = format!("reply to {command} (nonce ");
    stdout
        .strip_prefix(&prefix)
        .and_then(|rest| rest.split(')').next())
        .and_then(|nonce| nonce.parse().ok())
        .unwrap_or_else(|| panic!("no {prefix:?}<nonce>) at the start of {stdout:?}"))
}

/// Checks what `send start '{"animal_id": "m-001"}' --wait ...` printed:
/// the PENDING reply, then the SUCCESS result echoing the animal; returns
/// the nonce.
pub fn expect_pending_start_and_its_result(start: &Run) -> i64 {
    assert_eq!(start.code, Some(0), "{}", start.stdout);
    let nonce = reply_nonce(&start.stdout, "START_ACQUISITION");
    let lines: Vec<&str> = start.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", start.stdout);
    assert_eq!(
        lines[0],
        format!("reply to START_ACQUISITION (nonce {nonce}): PENDING_WITH_NOTIFICATION")
    );
    let result_start = format!("result of START_ACQUISITION (nonce {nonce}): SUCCESS {{");
    assert!(lines[1].starts_with(&result_start), "{}", start.stdout);
    assert!(
        lines[1].contains(r#""animal_id":"m-001""#),
        "{}",
        start.stdout
    );
    nonce
}

/// `listen` without `--count`, in the background: it prints until SIGTERM.
pub struct Listener {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Listener {
    /// Starts it and waits until it prints a heartbeat of `identifier`: from
    /// then on it receives everything the device publishes.
    pub fn join(args: &[&str], identifier: &str) -> Listener {
        let mut child = Command::new(built_example("remote_console"))
            .args(args)
            .arg("listen")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start remote_console listen");
        let lines = read_lines(child.stdout.take().expect("piped stdout"), "listen");
        let listener = Listener { child, lines };
        listener.expect(&format!("HEARTBEAT {identifier} (version "));
        listener
    }

    /// The next line that starts with `start` (earlier lines are skipped).
    pub fn expect(&self, start: &str) -> String {
        let deadline = std::time::Instant::now() + EXIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(start) => return line,
                Ok(_) => {}
                Err(_) => panic!("listen printed no line starting with {start:?}"),
            }
        }
    }

    /// Stops it with SIGTERM; it must exit 0.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = wait_child(&mut self.child, EXIT).expect("listen exits");
        assert_eq!(status.code(), Some(0), "listen exited with {status}");
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The prompt in a pseudo-terminal.
pub struct Prompt {
    drive: PyProcess,
}

impl Prompt {
    pub fn open(args: &[String]) -> Prompt {
        let mut argv = vec![
            "--".to_owned(),
            built_example("remote_console").display().to_string(),
        ];
        argv.extend(args.iter().cloned());
        let drive = PyProcess::spawn("pty_drive", &argv);
        drive.expect_ready(STARTUP);
        Prompt { drive }
    }

    pub fn ask(&mut self, request: Value) -> Value {
        self.drive.send_line(&request);
        self.drive
            .next_line(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("pty_drive did not answer {request}"))
    }

    /// Waits for a fresh prompt. rustyline asks the terminal for the cursor
    /// position before drawing it and reads the answer from the keyboard
    /// input, so keys typed before the prompt is drawn could be eaten.
    pub fn ready(&mut self) {
        self.expect("\n> ");
    }

    /// Types `text` and Enter at the next prompt.
    pub fn type_line(&mut self, text: &str) {
        self.ready();
        let answer = self.ask(json!({ "send": text }));
        assert_eq!(answer["sent"], text);
    }

    pub fn keys(&mut self, hex: &str) {
        let answer = self.ask(json!({ "send_hex": hex }));
        assert_eq!(answer["sent_hex"], hex);
    }

    /// Waits for `needle` after the previous match; returns the text up to it.
    pub fn expect(&mut self, needle: &str) -> String {
        let answer = self.ask(json!({"expect": needle, "timeout": 10}));
        assert_eq!(
            answer["matched"],
            needle,
            "{needle:?} did not appear; output since the last match:\n{}",
            answer["output"].as_str().unwrap_or("")
        );
        answer["output"].as_str().unwrap_or("").to_owned()
    }

    /// Waits for `reply to <command> (nonce N): <outcome>` on one line.
    pub fn expect_reply(&mut self, command: &str, outcome: &str) {
        self.expect(&format!("reply to {command} (nonce "));
        let end = format!("): {outcome}");
        let nonce = self.expect(&end);
        let nonce = nonce.strip_suffix(&end).unwrap_or_default();
        assert!(
            !nonce.is_empty() && nonce.chars().all(|c| c.is_ascii_digit()),
            "the reply to {command} is not {outcome}: {nonce:?}"
        );
    }

    pub fn output(&mut self) -> String {
        self.ask(json!({"output": true}))["output"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Waits for both texts, in either order.
    pub fn expect_both(&mut self, first: &str, second: &str) {
        self.expect(first);
        if !self.output().contains(second) {
            self.expect(second);
        }
    }
}
