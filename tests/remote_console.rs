//! The `remote_console` example, built and run as a process against the
//! built `client_application` example: its one-shot mode as a script would
//! use it, and its prompt driven in a pseudo-terminal
//! (`tests/python/pty_drive.py`) like a person at a keyboard. The devices,
//! listeners and prompts are `tests/common/console.rs`'s (the console's
//! tests through the fleet use them too).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use auto_trainer_api::{KeyRing, SigningKey, KEY_ENV};

use common::console::{
    console, expect_pending_start_and_its_result, reply_nonce, Device, Listener, Prompt, EXIT,
    IDLE, STARTUP,
};
use common::examples::{built_example, line_containing, read_lines, run_to_end, wait_child};
use common::python::{python_v0_12, repo_dir};
use serde_json::{json, Value};

#[test]
fn one_shot_mode_prints_replies_and_messages_and_exits_by_result() {
    let device = Device::start("script-rig", 0, 0);
    let (p, c) = (device.pub_port.to_string(), device.cmd_port.to_string());
    let base = ["--pub-port", &p, "--cmd-port", &c, "--timeout", "10"];
    let run = |extra: &[&str]| console(&[&base[..], extra].concat());
    let idle = IDLE.strip_prefix("SUCCESS ").unwrap();

    let status = run(&["send", "status"]);
    assert_eq!(status.code, Some(0), "{}", status.stdout);
    let nonce = reply_nonce(&status.stdout, "GET_STATUS");
    assert_eq!(
        status.stdout,
        format!("reply to GET_STATUS (nonce {nonce}): SUCCESS {idle}\n")
    );

    let json_status = run(&["--json", "send", "400"]);
    assert_eq!(json_status.code, Some(0));
    let reply: Value = serde_json::from_str(json_status.stdout.trim()).expect("one JSON line");
    assert_eq!(reply["type"], "reply");
    assert_eq!(reply["resultName"], "SUCCESS");
    assert_eq!(reply["commandName"], "GET_STATUS");
    assert_eq!(reply["errorCode"], 0, "{reply}");
    assert_eq!(
        reply["data"],
        serde_json::from_str::<Value>(idle).unwrap(),
        "{reply}"
    );

    // With --wait: the reply, then the result, and the exit code by the result.
    let start = run(&["send", "start", r#"{"animal_id": "m-001"}"#, "--wait", "10"]);
    expect_pending_start_and_its_result(&start);

    let again = run(&["send", "START_ACQUISITION"]);
    assert_eq!(again.code, Some(1), "a refused command: {}", again.stdout);
    let nonce = reply_nonce(&again.stdout, "START_ACQUISITION");
    assert_eq!(
        again.stdout,
        format!(
            "reply to START_ACQUISITION (nonce {nonce}): \
             FAILED [COMMAND_ERROR 1: an acquisition is already running]\n"
        )
    );

    // A listener that has joined sees the pending stop's result and event.
    let listener = Listener::join(&base, "script-rig");
    let stop = run(&["send", "stop"]);
    assert_eq!(
        stop.code,
        Some(0),
        "PENDING counts as success: {}",
        stop.stdout
    );
    let nonce = reply_nonce(&stop.stdout, "STOP_ACQUISITION");
    assert_eq!(
        stop.stdout,
        format!("reply to STOP_ACQUISITION (nonce {nonce}): PENDING_WITH_NOTIFICATION\n")
    );
    let result = listener.expect("COMMAND_RESULT ");
    let result_start = format!("COMMAND_RESULT STOP_ACQUISITION (nonce {nonce}): SUCCESS {{");
    assert!(result.starts_with(&result_start), "{result}");
    assert!(result.contains(r#""animal_id":"m-001""#), "{result}");
    let ended = listener.expect("EVENT ");
    assert!(
        ended.starts_with("EVENT acquisitionEnded (305) {"),
        "{ended}"
    );
    assert!(ended.contains(r#""reason":"STOP_ACQUISITION""#), "{ended}");
    listener.stop();

    // The device is idle now and publishes only heartbeats.
    let heartbeat = format!(
        "HEARTBEAT script-rig (version 0.9.11+rust.{}, protocol 0.9)",
        env!("CARGO_PKG_VERSION")
    );
    let listen = run(&["listen", "--count", "2"]);
    assert_eq!(listen.code, Some(0));
    let lines: Vec<&str> = listen.stdout.lines().collect();
    assert_eq!(lines, [heartbeat.as_str(); 2], "{}", listen.stdout);

    let heartbeats = run(&["--json", "listen", "--count", "2", "--topic", "heartbeat"]);
    assert_eq!(heartbeats.code, Some(0));
    let lines: Vec<&str> = heartbeats.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", heartbeats.stdout);
    for line in lines {
        let message: Value = serde_json::from_str(line).expect("JSON line");
        assert_eq!(message["type"], "heartbeat", "{message}");
        assert_eq!(message["topic"], 1001, "{message}");
        assert_eq!(message["message"]["identifier"], "script-rig");
        assert_eq!(
            message["message"]["version"],
            format!("0.9.11+rust.{}", env!("CARGO_PKG_VERSION"))
        );
    }

    let unknown = run(&["send", "launch-rockets"]);
    assert_eq!(unknown.code, Some(2));
    assert_eq!(unknown.stdout, "", "nothing was sent");
    assert!(
        unknown.stderr.contains("unknown command 'launch-rockets'"),
        "{}",
        unknown.stderr
    );
    // A zero timeout parses, and the client's option checks refuse it.
    let zero = console(&["--timeout", "0", "send", "status"]);
    assert_eq!(zero.code, Some(2), "{}", zero.stdout);
    assert_eq!(zero.stdout, "", "nothing was sent");
    assert!(
        zero.stderr
            .contains("request_timeout must be greater than zero"),
        "{}",
        zero.stderr
    );
    device.stop();

    // Nobody home (the device's ports, now closed): no reply, no messages.
    let nobody = ["--pub-port", &p, "--cmd-port", &c, "--timeout", "0.3"];
    let lost = console(&[&nobody[..], &["send", "status"]].concat());
    assert_eq!(lost.code, Some(3));
    assert!(
        lost.stdout
            .starts_with("error: no reply to GET_STATUS (nonce "),
        "{}",
        lost.stdout
    );
    let silent = console(
        &[
            &nobody[..],
            &["listen", "--count", "1", "--max-wait", "300ms"],
        ]
        .concat(),
    );
    assert_eq!(silent.code, Some(3));
    assert_eq!(
        silent.stdout,
        "error: only 0 message(s) before --max-wait\n"
    );
}

#[test]
fn the_prompt_sends_commands_shows_events_and_follows_the_device() {
    let device = Device::start("console-rig", 0, 0);
    let (pub_port, cmd_port) = (device.pub_port, device.cmd_port);
    let mut prompt = Prompt::open(&[
        "--pub-port".into(),
        pub_port.to_string(),
        "--cmd-port".into(),
        cmd_port.to_string(),
        "--timeout".into(),
        "10".into(),
    ]);
    prompt.expect("remote console for 127.0.0.1");
    prompt.expect("device console-rig is online");

    prompt.type_line("status");
    prompt.expect_reply("GET_STATUS", IDLE);

    // A pending command: listed by `pending`, its result shown on arrival.
    prompt.type_line(r#"start {"animal_id": "m-001"}"#);
    prompt.expect_reply("START_ACQUISITION", "PENDING_WITH_NOTIFICATION");
    prompt.type_line("pending");
    prompt.expect("pending: START_ACQUISITION (nonce ");
    prompt.expect_both(
        "result of START_ACQUISITION (nonce ",
        "EVENT acquisitionStarted (301)",
    );

    prompt.type_line("estop door open");
    prompt.expect_both(
        "reply to EMERGENCY_STOP (nonce ",
        "EMERGENCY emergencyStop (101)",
    );
    prompt.type_line("resume");
    prompt.expect_reply("EMERGENCY_RESUME", "SUCCESS");

    // By number, custom commands, unknown words.
    prompt.type_line("send 400");
    prompt.expect_reply("GET_STATUS", IDLE);
    // The stand-in device knows no custom commands.
    prompt.type_line(r#"custom 5 {"valve_id": 2}"#);
    prompt.expect_reply("USER_DEFINED", "UNRECOGNIZED");
    prompt.type_line("launch");
    prompt.expect("error: unknown command 'launch'");

    // Tab completion, then history (arrow up).
    prompt.ready();
    prompt.keys("636f6e6609"); // "conf" + Tab
    prompt.keys("0d");
    prompt.expect_reply("GET_CONFIGURATION", "SUCCESS {");
    prompt.expect(r#""device_id":"console-rig""#);
    prompt.ready();
    prompt.keys("1b5b41"); // Up
    prompt.keys("0d");
    prompt.expect_reply("GET_CONFIGURATION", "SUCCESS {");

    // Heartbeats are hidden until watched.
    prompt.type_line("watch heartbeat");
    prompt.expect("watching: heartbeat");
    prompt.expect("HEARTBEAT console-rig");
    prompt.type_line("watch none");
    prompt.expect("watching: nothing");

    prompt.type_line("device");
    prompt.expect("device console-rig is online");
    prompt.type_line("help");
    prompt.expect("custom <n> [json]");

    // The device restarts; the console follows and recovers.
    device.stop();
    prompt.expect("device console-rig is offline");
    let device = Device::start("console-rig-2", pub_port, cmd_port);
    prompt.expect("device console-rig-2 is online");
    prompt.type_line("ping");
    prompt.expect_reply("NONE", "SUCCESS");

    // Lines printed while the prompt is open start on a line of their own
    // (rustyline clears the prompt first: "> " is left once escapes and
    // carriage returns are stripped).
    let output = prompt.output();
    // Replies and results that came in either order with an event.
    for (start, end) in [
        (
            "result of START_ACQUISITION (nonce ",
            r#"SUCCESS {"acquisition_id":"#,
        ),
        ("reply to EMERGENCY_STOP (nonce ", "): SUCCESS"),
    ] {
        assert!(
            output.lines().any(|l| {
                let l = l.trim_start_matches("> ");
                l.starts_with(start) && l.contains(end)
            }),
            "no line {start}...{end}:\n{output}"
        );
    }
    for line in [
        "EVENT acquisitionStarted (301)",
        "device console-rig is offline",
        "HEARTBEAT console-rig",
    ] {
        assert!(
            output
                .lines()
                .any(|l| l.trim_start_matches("> ").starts_with(line)),
            "no line starts with {line:?}:\n{output}"
        );
    }

    prompt.type_line("quit");
    let exit = prompt.ask(json!({"wait_exit": 15}));
    assert_eq!(exit["exit"], 0, "{exit}");
    device.stop();
}

/// `--protocol auto` against a 0.12 device (the stand-in app with
/// `--protocol 0.12`): names and aliases are 0.12's, events print with
/// 0.12's kind names, heartbeats say the protocol; `--protocol 0.9` names
/// commands as 0.9.11 does.
#[test]
fn names_commands_and_events_by_the_device_generation() {
    let device = Device::start_with("rig-12", 0, 0, &["--protocol", "0.12"]);
    let (p, c) = (device.pub_port.to_string(), device.cmd_port.to_string());
    let base = ["--pub-port", &p, "--cmd-port", &c, "--timeout", "10"];
    let run = |extra: &[&str]| console(&[&base[..], extra].concat());
    let listener = Listener::join(&[&base[..], &["--protocol", "auto"]].concat(), "rig-12");

    let heartbeat = run(&["listen", "--count", "1", "--topic", "heartbeat"]);
    assert!(
        heartbeat.stdout.contains(", protocol 0.12)"),
        "{}",
        heartbeat.stdout
    );

    // set-mode by name: SET_APPLICATION_MODE {"mode": 100}, a pending run.
    let running = run(&["send", "set-mode", "running", "--wait", "10"]);
    assert_eq!(running.code, Some(0), "{}", running.stdout);
    let nonce = reply_nonce(&running.stdout, "SET_APPLICATION_MODE");
    assert!(
        running.stdout.contains(&format!(
            "result of SET_APPLICATION_MODE (nonce {nonce}): SUCCESS {{\"mode\":100}}"
        )),
        "{}",
        running.stdout
    );
    let changed = listener.expect("EVENT applicationModeChanged (301)");
    assert!(changed.ends_with(r#"{"mode":100}"#), "{changed}");

    let status = run(&["send", "status"]);
    assert_eq!(status.code, Some(0));
    assert!(
        status.stdout.contains(r#""application_mode":100"#),
        "{}",
        status.stdout
    );
    let training = run(&["send", "set-training-mode", "automatic"]);
    assert!(
        training.stdout.contains(r#"SET_TRAINING_MODE (nonce "#)
            && training.stdout.contains(r#"SUCCESS {"mode":300}"#),
        "{}",
        training.stdout
    );
    listener.expect("EVENT trainingModeChanged (5001)");
    let disable = run(&["send", "disable", "auto-clamp"]);
    assert!(
        disable
            .stdout
            .starts_with("reply to SET_AUTO_CLAMP_ENABLED (nonce ")
            && disable.stdout.contains(r#"SUCCESS {"enabled":false}"#),
        "{}",
        disable.stdout
    );
    listener.expect("EVENT autoClampEnabledChanged (1611)");
    let animals = run(&["send", "animals"]);
    assert!(
        animals.stdout.starts_with("reply to GET_ANIMALS (nonce "),
        "{}",
        animals.stdout
    );

    // start is 0.12's obsolete START_ACQUISITION: a warning, then UNRECOGNIZED.
    let start = run(&["send", "start"]);
    assert_eq!(start.code, Some(1), "{}", start.stdout);
    assert!(
        start
            .stdout
            .starts_with("reply to START_ACQUISITION (nonce "),
        "{}",
        start.stdout
    );
    assert!(start.stderr.contains("obsolete"), "{}", start.stderr);
    // With 0.9 fixed, set-mode is no command.
    let old = run(&["--protocol", "0.9", "send", "set-mode", "running"]);
    assert_eq!(old.code, Some(2), "{}", old.stderr);
    assert!(
        old.stderr.contains("unknown command 'set-mode'"),
        "{}",
        old.stderr
    );

    let estop = run(&["send", "estop", r#"{"reason": "test"}"#]);
    assert_eq!(estop.code, Some(0));
    let stop = listener.expect("EMERGENCY emergencyStop (101)");
    assert!(stop.contains(r#""reason_code":401"#), "{stop}");
    listener.expect("EVENT applicationModeChanged (301)");
    listener.stop();
    device.stop();
}

/// A 0.12 device on the Python reference service (0.12.0): the console
/// detects the generation from its heartbeat and names commands and events
/// by the 0.12 catalog.
#[test]
fn speaks_0_12_with_the_python_reference() {
    let mut peer = Command::new(python_v0_12())
        .arg("-u")
        .arg(repo_dir().join("tests/python/console_peer_v0_12.py"))
        .args(["--identifier", "py-12", "--heartbeat-interval", "0.2"])
        .current_dir(repo_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start console_peer_v0_12.py");
    let lines = read_lines(peer.stdout.take().expect("piped stdout"), "console_peer");
    let ready: Value =
        serde_json::from_str(&line_containing(&lines, r#""ready": true"#, STARTUP)).expect("JSON");
    assert_eq!(ready["version"], "0.12.0", "{ready}");
    let (p, c) = (ready["pub_port"].to_string(), ready["cmd_port"].to_string());
    let base = ["--pub-port", &p, "--cmd-port", &c, "--timeout", "10"];
    let listener = Listener::join(&base, "py-12");

    let mode = console(&[&base[..], &["send", "set-mode", "in-training"]].concat());
    assert_eq!(mode.code, Some(0), "{}", mode.stdout);
    assert!(
        mode.stdout
            .starts_with("reply to SET_APPLICATION_MODE (nonce ")
            && mode.stdout.contains(r#"SUCCESS {"mode":300}"#),
        "{}",
        mode.stdout
    );
    let request: Value =
        serde_json::from_str(&line_containing(&lines, r#""request""#, EXIT)).expect("JSON");
    assert_eq!(
        (&request["request"]["name"], &request["request"]["data"]),
        (&json!("SET_APPLICATION_MODE"), &json!({"mode": 300})),
        "{request}"
    );
    let changed = listener.expect("EVENT applicationModeChanged (301)");
    assert!(changed.ends_with(r#"{"mode":300}"#), "{changed}");

    let status = console(&[&base[..], &["send", "status"]].concat());
    assert!(
        status
            .stdout
            .contains(r#"SUCCESS {"application_mode":300}"#),
        "{}",
        status.stdout
    );
    listener.stop();
    drop(peer.stdin.take());
    let status = wait_child(&mut peer, EXIT).expect("console_peer_v0_12.py exits");
    assert!(
        status.success(),
        "console_peer_v0_12.py exited with {status}"
    );
}

/// The roles of the key files below.
const ROLES: &str =
    "[roles]\nviewer = [\"NONE\", \"GET_STATUS\", \"GET_CONFIGURATION\"]\noperator = [\"*\"]\n";

/// A directory of this test's own, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("auto-trainer-api-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }

    /// Writes a key file `name` with `keys` (and their roles); its path.
    fn key_file(&self, name: &str, keys: &[(&SigningKey, &str)]) -> PathBuf {
        let mut text: String = keys
            .iter()
            .map(|(key, role)| key.key_file_entry(role) + "\n")
            .collect();
        text += ROLES;
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write a key file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn key(id: &str) -> SigningKey {
    SigningKey::generate(id).expect("random bytes")
}

/// `AUTO_TRAINER_KEY`'s value for `key`: `<id>:<base64 secret>`.
fn env_value(key: &SigningKey) -> String {
    let entry = key.key_file_entry("any");
    let secret = entry
        .lines()
        .find_map(|line| line.strip_prefix("secret = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("a secret line");
    format!("{}:{secret}", key.id())
}

fn path_text(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

#[test]
fn keygen_prints_a_key_file_entry_with_a_new_secret() {
    let generate = || {
        let run = console(&["keygen", "--id", "ops-1", "--role", "operator"]);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        let ring = KeyRing::from_toml(&format!("{}\n{ROLES}", run.stdout))
            .unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
        assert_eq!(ring.key_ids().collect::<Vec<_>>(), ["ops-1"]);
        assert_eq!(ring.role("ops-1"), Some("operator"));
        ring.key("ops-1").expect("the key").clone()
    };
    // Same id, so unequal keys have different secrets.
    assert_ne!(generate(), generate());
}

#[test]
fn signs_with_a_key_file_or_the_environment_and_shows_refusals() {
    let dir = TempDir::new("console-signing");
    let (operator, viewer) = (key("ops-1"), key("screen-1"));
    let keys = dir.key_file("keys.toml", &[(&operator, "operator"), (&viewer, "viewer")]);
    let keys = path_text(&keys);
    let device = Device::start_with("signed-rig", 0, 0, &["--keys", keys]);
    let (p, c) = (device.pub_port.to_string(), device.cmd_port.to_string());
    let base = ["--pub-port", &p, "--cmd-port", &c, "--timeout", "10"];
    let run = |extra: &[&str]| console(&[&base[..], extra].concat());

    let status = run(&["--key-file", keys, "--key-id", "ops-1", "send", "status"]);
    assert_eq!(status.code, Some(0), "{}", status.stdout);
    let nonce = reply_nonce(&status.stdout, "GET_STATUS");
    assert_eq!(
        status.stdout,
        format!("reply to GET_STATUS (nonce {nonce}): {IDLE}\n")
    );

    // Unsigned: the device's reply, then the refusal; exit 4.
    let unsigned = run(&["send", "status"]);
    assert_eq!(unsigned.code, Some(4), "{}", unsigned.stdout);
    assert!(
        unsigned
            .stdout
            .contains("refused by the device: error 401: this device accepts only signed"),
        "{}",
        unsigned.stdout
    );

    // The viewer may read, not start; an emergency stop is every key's.
    let viewing = ["--key-file", keys, "--key-id", "screen-1"];
    let start = run(&[&viewing[..], &["send", "start"]].concat());
    assert_eq!(start.code, Some(4), "{}", start.stdout);
    assert!(
        start
            .stdout
            .starts_with("refused by the device: error 403: key 'screen-1'"),
        "{}",
        start.stdout
    );
    let json_start = run(&[&["--json"], &viewing[..], &["send", "start"]].concat());
    assert_eq!(json_start.code, Some(4), "{}", json_start.stdout);
    let refused: Value = serde_json::from_str(json_start.stdout.trim()).expect("one JSON line");
    assert_eq!(refused["type"], "refused", "{refused}");
    assert_eq!(refused["code"], 403, "{refused}");
    let estop = run(&[&viewing[..], &["send", "estop"]].concat());
    assert_eq!(estop.code, Some(0), "{}", estop.stdout);
    let nonce = reply_nonce(&estop.stdout, "EMERGENCY_STOP");
    assert_eq!(
        estop.stdout,
        format!("reply to EMERGENCY_STOP (nonce {nonce}): SUCCESS\n")
    );

    // Without --key-file, AUTO_TRAINER_KEY signs.
    let from_env = run_to_end(
        Command::new(built_example("remote_console"))
            .args(base)
            .args(["send", "resume"])
            .env(KEY_ENV, env_value(&operator)),
        EXIT,
    );
    assert_eq!(from_env.code, Some(0), "{}", from_env.stdout);
    reply_nonce(&from_env.stdout, "EMERGENCY_RESUME");

    // A key the file does not hold is a usage error, before anything is sent.
    let missing = run(&["--key-file", keys, "--key-id", "nobody", "send", "status"]);
    assert_eq!(missing.code, Some(2), "{}", missing.stderr);
    assert!(
        missing.stderr.contains("no key 'nobody'"),
        "{}",
        missing.stderr
    );
    device.stop();
}

#[test]
fn sighup_makes_the_device_read_its_key_file_again() {
    let dir = TempDir::new("console-sighup");
    let (old, new) = (key("ops-old"), key("ops-new"));
    let old_file = dir.key_file("old.toml", &[(&old, "operator")]);
    let new_file = dir.key_file("new.toml", &[(&new, "operator")]);
    let device_file = dir.key_file("device.toml", &[(&old, "operator")]);
    let device = Device::start_with("rotating-rig", 0, 0, &["--keys", path_text(&device_file)]);
    let (p, c) = (device.pub_port.to_string(), device.cmd_port.to_string());
    let status = |file: &Path| {
        console(&[
            "--pub-port",
            &p,
            "--cmd-port",
            &c,
            "--timeout",
            "10",
            "--key-file",
            path_text(file),
            "send",
            "status",
        ])
    };
    assert_eq!(status(&old_file).code, Some(0));
    assert_eq!(status(&new_file).code, Some(4));

    // The new key replaces the old one.
    std::fs::copy(&new_file, &device_file).expect("rewrite the key file");
    device.signal("HUP");
    line_containing(
        &device.log,
        "SIGHUP: keys reloaded, 1 key(s) in use",
        STARTUP,
    );
    let with_new = status(&new_file);
    assert_eq!(with_new.code, Some(0), "{}", with_new.stdout);
    let with_old = status(&old_file);
    assert_eq!(with_old.code, Some(4), "{}", with_old.stdout);
    assert!(with_old.stdout.contains("error 401"), "{}", with_old.stdout);

    // A file it cannot take leaves the keys in use.
    std::fs::write(&device_file, "[[key]]\nid = 1\n").expect("break the key file");
    device.signal("HUP");
    let refused = line_containing(&device.log, "SIGHUP: keys not reloaded", STARTUP);
    assert!(refused.contains("not a key file"), "{refused}");
    assert_eq!(status(&new_file).code, Some(0));
    device.stop();
}
