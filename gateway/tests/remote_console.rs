//! The `remote_console` example through the fleet, with real processes
//! only: a `nats-server` with JetStream, the gateway binary bridging a
//! `client_application` rig, and the console as built, reaching the rig by
//! name (`--nats <url> --rig rig-7`) and listing the fleet (`fleet
//! status`): one-shot, in the background, and at its prompt in a
//! pseudo-terminal. What it prints and how it exits are those of the
//! console over ZeroMQ (`tests/remote_console.rs`).
//!
//! Run: `cargo build --examples && cargo test -p auto-trainer-gateway --test
//! remote_console` (the tests run the examples as built).

#[path = "../../tests/common"]
mod common {
    pub mod console;
    pub mod examples;
    pub mod nats;
    pub mod python;
}

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::console::{
    console, expect_pending_start_and_its_result, reply_nonce, Device, Listener, Prompt, IDLE,
};
use common::examples::Run;
use common::nats::{gateway_command, GatewayProcess, NatsServer, TempDir};

/// The deadline of every wait for a condition.
const WAIT: Duration = Duration::from_secs(30);
const RIG: &str = "rig-7";
const DEVICE: &str = "rig-7-device";
const GATEWAY: &str = "site-a";

/// The gateway process bridging `device` as rig [`RIG`], ready.
fn start_gateway(nats_url: &str, device: &Device, dir: &Path) -> GatewayProcess {
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\nname = \"{GATEWAY}\"\n\n[nats]\nurl = \"{nats_url}\"\n\
             command_timeout = \"2s\"\n\n[[rig]]\nname = \"{RIG}\"\nhost = \"127.0.0.1\"\n\
             pub_port = {}\ncmd_port = {}\n",
            device.pub_port, device.cmd_port
        ),
    )
    .expect("write the gateway's config");
    GatewayProcess::start(gateway_command(
        env!("CARGO_BIN_EXE_auto-trainer-gateway"),
        &config,
    ))
}

/// Runs the console (`--nats <url>` first) until `accept` takes what it
/// printed, for up to `WAIT`; the last run.
fn console_until(url: &str, args: &[&str], accept: impl Fn(&Run) -> bool) -> Run {
    let deadline = Instant::now() + WAIT;
    loop {
        let run = console(&[&["--nats", url][..], args].concat());
        if accept(&run) {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "remote_console {args:?} never printed what was awaited; last:\n{}",
            run.stdout
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn commands_events_and_fleet_status_through_the_gateway() {
    let nats = NatsServer::start();
    let url = nats.url();
    let rig = ["--nats", &url, "--rig", RIG, "--timeout", "10"];
    let run = |extra: &[&str]| console(&[&rig[..], extra].concat());

    // No gateway yet: nobody answers, and there is no fleet to list.
    let lost = console(&[
        "--nats",
        &url,
        "--rig",
        RIG,
        "--protocol",
        "0.9",
        "send",
        "status",
    ]);
    assert_eq!(lost.code, Some(3), "{}", lost.stdout);
    assert_eq!(
        lost.stdout,
        "error: no gateway answers on autotrainer.rig-7.command (is one running, and does it \
         bridge this rig?)\n"
    );
    let no_fleet = console(&["--nats", &url, "fleet", "status"]);
    assert_eq!(no_fleet.code, Some(3), "{}", no_fleet.stdout);
    assert!(
        no_fleet
            .stdout
            .starts_with("error: no bucket autotrainer_rigs on "),
        "{}",
        no_fleet.stdout
    );

    let device = Device::start(DEVICE, 0, 0);
    let dir = TempDir::new("console-fleet");
    let gateway = start_gateway(&url, &device, &dir);

    // fleet status: one line per rig, once the bucket has it online.
    let listed = console_until(&url, &["fleet", "status"], |run| {
        run.stdout.starts_with("rig-7: online")
    });
    assert_eq!(listed.code, Some(0));
    assert_eq!(listed.stdout.lines().count(), 1, "{}", listed.stdout);
    let details = format!(
        ", identifier {DEVICE}, version 0.9.11+rust.{}, protocol 0.9, gateway {GATEWAY}, \
         online for ",
        env!("CARGO_PKG_VERSION")
    );
    assert!(listed.stdout.contains(&details), "{}", listed.stdout);
    assert!(
        listed.stdout.starts_with("rig-7: online, heartbeat "),
        "{}",
        listed.stdout
    );
    let json = console(&["--nats", &url, "--json", "fleet", "status"]);
    assert_eq!(json.code, Some(0));
    let state: Value = serde_json::from_str(json.stdout.trim()).expect("one JSON line");
    assert_eq!(
        (&state["type"], &state["rig"], &state["online"]),
        (&"rig".into(), &RIG.into(), &true.into()),
        "{state}"
    );
    assert_eq!(state["gateway"], GATEWAY, "{state}");
    assert!(
        state["heartbeatAgeSeconds"].as_f64().unwrap_or(f64::MAX) < 10.0,
        "{state}"
    );

    // A command and its reply, printed as over ZeroMQ.
    let status = run(&["send", "status"]);
    assert_eq!(status.code, Some(0), "{}", status.stdout);
    let nonce = reply_nonce(&status.stdout, "GET_STATUS");
    assert_eq!(
        status.stdout,
        format!("reply to GET_STATUS (nonce {nonce}): {IDLE}\n")
    );

    // A pending command's result (awaited on its result subject) and the
    // rig's events through the gateway.
    let listener = Listener::join(&rig, DEVICE);
    let start = run(&["send", "start", r#"{"animal_id": "m-001"}"#, "--wait", "10"]);
    expect_pending_start_and_its_result(&start);
    let started = listener.expect("EVENT ");
    assert!(
        started.starts_with("EVENT acquisitionStarted (301) {"),
        "{started}"
    );
    let stop = run(&["send", "stop"]);
    assert_eq!(stop.code, Some(0), "{}", stop.stdout);
    let nonce = reply_nonce(&stop.stdout, "STOP_ACQUISITION");
    let result = listener.expect("COMMAND_RESULT ");
    assert!(
        result.starts_with(&format!(
            "COMMAND_RESULT STOP_ACQUISITION (nonce {nonce}): SUCCESS {{"
        )),
        "{result}"
    );
    listener.stop();
    let heartbeats = run(&["--json", "listen", "--count", "2", "--topic", "heartbeat"]);
    assert_eq!(heartbeats.code, Some(0));
    for line in heartbeats.stdout.lines() {
        let message: Value = serde_json::from_str(line).expect("JSON line");
        assert_eq!(message["topic"], 1001, "{message}");
        assert_eq!(message["message"]["identifier"], DEVICE, "{message}");
    }

    // The rig dies: the bucket says offline, and the gateway's answer for
    // it is printed and exits 3 (no answer from the rig). Killed, not
    // stopped: a rig stopped with SIGTERM while the gateway reads it can
    // abort the gateway in libzmq (`Assertion failed: !_more`, fq.cpp:112;
    // about one run in five of this test), which is the gateway's to fix.
    drop(device);
    console_until(&url, &["fleet", "status"], |run| {
        run.stdout.starts_with("rig-7: offline")
    });
    let offline = run(&["send", "status"]);
    assert_eq!(offline.code, Some(3), "{}", offline.stdout);
    let nonce = reply_nonce(&offline.stdout, "GET_STATUS");
    assert!(
        offline.stdout.starts_with(&format!(
            "reply to GET_STATUS (nonce {nonce}): UNAVAILABLE [SYSTEM_ERROR 0: "
        )) && offline.stdout.contains(RIG),
        "{}",
        offline.stdout
    );
    drop(gateway);
}

#[test]
fn the_prompt_commands_a_rig_through_the_gateway() {
    let nats = NatsServer::start();
    let url = nats.url();
    let device = Device::start(DEVICE, 0, 0);
    let dir = TempDir::new("console-fleet-prompt");
    let gateway = start_gateway(&url, &device, &dir);
    let mut prompt =
        Prompt::open(&["--nats", &url, "--rig", RIG, "--timeout", "10"].map(String::from));
    prompt.expect(&format!(
        "remote console for rig rig-7 through NATS at {url} (subjects autotrainer.rig-7.>)"
    ));
    prompt.expect("rig rig-7: online, heartbeat ");

    prompt.type_line("status");
    prompt.expect_reply("GET_STATUS", IDLE);
    prompt.type_line(r#"start {"animal_id": "m-001"}"#);
    prompt.expect_reply("START_ACQUISITION", "PENDING_WITH_NOTIFICATION");
    prompt.expect_both(
        "result of START_ACQUISITION (nonce ",
        "EVENT acquisitionStarted (301)",
    );
    prompt.type_line("watch heartbeat");
    prompt.expect(&format!("HEARTBEAT {DEVICE} (version "));
    prompt.type_line("watch none");
    prompt.expect("watching: nothing");
    prompt.type_line("device");
    prompt.expect("rig rig-7: online");
    prompt.expect("messages ");

    // The rig dies (killed, as above): its state in the bucket says so.
    drop(device);
    prompt.expect("rig rig-7: offline");
    prompt.type_line("quit");
    let exit = prompt.ask(serde_json::json!({"wait_exit": 15}));
    assert_eq!(exit["exit"], 0, "{exit}");
    drop(gateway);
}
