//! The teaching examples, run as processes: `command_device` asks
//! `embed_device` for its status.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::examples::{
    built_example, line_containing, port_after, read_lines, run_to_end, wait_child,
};

const STARTUP: Duration = Duration::from_secs(30);
const EXIT: Duration = Duration::from_secs(20);

#[test]
fn command_device_reads_the_status_of_embed_device() {
    let mut device = Command::new(built_example("embed_device"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start embed_device");
    let stdout = read_lines(device.stdout.take().expect("piped stdout"), "embed_device");
    // serving: events on port N, commands on port M
    let serving = line_containing(&stdout, "serving:", STARTUP);
    let port = |label: &str| {
        port_after(label, &serving)
            .unwrap_or_else(|| panic!("no {label}<port> in {serving:?}"))
            .to_string()
    };
    let (events_port, commands_port) = (port("events on port "), port("commands on port "));

    let run = run_to_end(
        Command::new(built_example("command_device")).args([
            "127.0.0.1",
            &events_port,
            &commands_port,
        ]),
        EXIT,
    );
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(run.stdout.contains("reply: SUCCESS"), "{}", run.stdout);
    assert!(run.stdout.contains("status: IDLE"), "{}", run.stdout);
    assert!(run.stdout.contains("animal 'm-001'"), "{}", run.stdout);

    // Closing its stdin ends it cleanly.
    drop(device.stdin.take());
    let status = wait_child(&mut device, EXIT).expect("embed_device exits at stdin's end");
    assert!(status.success(), "embed_device exited with {status}");
}
