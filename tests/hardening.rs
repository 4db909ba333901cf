//! Attacks from the network on the real app (`client_application`, run as a
//! child process with its default options), each judged by the child's own
//! memory as the kernel reports it (`/proc/<pid>/status`: VmHWM, the peak
//! resident set, and VmRSS). The budget is the hardening issue's: no attack
//! raises the peak by more than 64 MiB, and the app keeps serving.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use common::examples::{built_example, line_containing, port_after, read_lines};
use common::zmq_client::ReqClient;
use common::zmtp::RawPeer;
use serde_json::json;

const STARTUP: Duration = Duration::from_secs(30);
const BUDGET_KIB: u64 = 64 * 1024;
const MIB: u64 = 1024 * 1024;

/// The app under attack, on ports the OS picked.
struct Target {
    child: Child,
    _stderr: Receiver<String>,
    subscriber_port: u16,
    command_port: u16,
}

impl Target {
    fn start() -> Self {
        let mut child = Command::new(built_example("client_application"))
            .args(["--bind", "127.0.0.1", "--pub-port", "0", "--cmd-port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start client_application");
        let stderr = read_lines(child.stderr.take().expect("stderr"), "target");
        let started = line_containing(&stderr, "api service started", STARTUP);
        let port = |label| port_after(label, &started).expect("a port in the log");
        Self {
            subscriber_port: port("subscriber_port="),
            command_port: port("command_port="),
            child,
            _stderr: stderr,
        }
    }

    /// A field of `/proc/<pid>/status`, in KiB.
    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read the target's status");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in the target's status"))
    }

    fn peak_kib(&self) -> u64 {
        self.status_kib("VmHWM")
    }

    fn resident_kib(&self) -> u64 {
        self.status_kib("VmRSS")
    }

    fn assert_serving(&self) {
        let mut req = ReqClient::connect(self.command_port);
        let reply = req.request_json(&json!({"command": 400, "nonce": 77}));
        assert_eq!(
            (reply["nonce"].as_i64(), reply["result"].as_i64()),
            (Some(77), Some(100)),
            "{reply}"
        );
    }

    /// Checks the peak grew by less than the budget since `peak_before`.
    fn assert_peak_within_budget(&self, peak_before: u64, attack: &str) {
        let grown = self.peak_kib().saturating_sub(peak_before);
        eprintln!("{attack}: peak RSS grew by {} KiB", grown);
        assert!(
            grown < BUDGET_KIB,
            "{attack}: peak RSS grew by {grown} KiB (budget {BUDGET_KIB} KiB)"
        );
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_subscriber_announcing_a_3_gib_frame_is_dropped_before_it_is_buffered() {
    let target = Target::start();
    target.assert_serving();
    let before = target.peak_kib();

    let mut peer = RawPeer::connect(target.subscriber_port, "SUB").expect("connect");
    peer.frame_header(3 << 30, false).expect("frame header");
    let written = peer.stream_bytes(256 * MIB);

    assert!(
        written < 256 * MIB,
        "the PUB socket read all {written} bytes"
    );
    target.assert_peak_within_budget(before, "3 GiB frame to the PUB port");
    target.assert_serving();
}

#[test]
fn a_request_of_64_frames_of_4_mib_is_refused_before_it_is_buffered() {
    let target = Target::start();
    target.assert_serving();
    let before = target.peak_kib();

    let mut peer = RawPeer::connect(target.command_port, "REQ").expect("connect");
    let frame = vec![b'x'; 4 * MIB as usize];
    // A REQ request: an empty delimiter, then the body frames.
    let mut sent = peer.frame(&[], true).is_ok();
    for index in 0..64 {
        sent = sent && peer.frame(&frame, index < 63).is_ok();
    }

    assert!(!sent, "the REP socket took 64 frames of 4 MiB");
    target.assert_peak_within_budget(before, "64 frames of 4 MiB to the REP port");
    target.assert_serving();
}

#[test]
fn unfinished_4_mib_frames_on_100_connections_are_refused() {
    let target = Target::start();
    target.assert_serving();
    let before = target.peak_kib();

    let mut peers = Vec::new();
    let mut fully_sent = 0;
    for _ in 0..100 {
        let mut peer = RawPeer::connect(target.command_port, "REQ").expect("connect");
        let _ = peer.frame(&[], true);
        let _ = peer.frame_header(4 * MIB, false);
        if peer.stream_bytes(4 * MIB - 1) == 4 * MIB - 1 {
            fully_sent += 1;
        }
        peers.push(peer); // held open, the frame never finished
    }

    eprintln!("{fully_sent} of 100 connections took their unfinished frame");
    target.assert_peak_within_budget(before, "100 unfinished 4 MiB frames");
    target.assert_serving();
}

#[test]
fn requests_with_1000_distinct_large_keys_leave_nothing_resident() {
    let target = Target::start();
    target.assert_serving();
    let resident_before = target.resident_kib();
    let peak_before = target.peak_kib();

    // Before the cache held only short keys, these stayed: 1,000 keys and
    // their conversions, 128 MiB.
    let mut req = ReqClient::connect(target.command_port);
    let filler = "k".repeat(64 * 1024);
    for nonce in 0..1_000 {
        let key = format!("key_{nonce:04}_{filler}");
        let reply = req.request_json(&json!({"command": 400, "nonce": nonce, "data": {key: 1}}));
        assert_eq!(reply["nonce"], nonce, "{reply}");
    }
    target.assert_serving();

    let resident_after = target.resident_kib();
    eprintln!(
        "1,000 keys of 64 KiB: resident {resident_before} KiB before, {resident_after} KiB after"
    );
    assert!(
        resident_after.saturating_sub(resident_before) < BUDGET_KIB,
        "the keys stayed resident: {resident_before} KiB before, {resident_after} KiB after"
    );
    target.assert_peak_within_budget(peak_before, "1,000 distinct 64 KiB keys");
}
