//! The crate's examples as built executables, for the tests that run them as
//! separate processes.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::python::repo_dir;

/// The built example `name`. The first call for each name in a test process
/// builds it with the cargo running the tests, so the test is self-contained;
/// later calls return the same path. Builds run one at a time.
pub fn built_example(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    // A build that panicked left nothing behind: the next caller retries.
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    built
        .entry(name.to_owned())
        .or_insert_with(|| build(name))
        .clone()
}

fn build(name: &str) -> PathBuf {
    let mut build = Command::new(env!("CARGO"))
        .args([
            "build",
            "--example",
            name,
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(repo_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot run cargo build");
    let stdout = build.stdout.take().expect("piped stdout");
    // Reads to the end: cargo fails if its stdout closes early.
    let target = name.to_owned();
    let reader = thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| serde_json::from_str::<Value>(&line).ok())
            .filter(|m| m["target"]["name"] == target.as_str())
            .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
            .last()
    });
    let status = wait_child(&mut build, Duration::from_secs(900))
        .unwrap_or_else(|| panic!("cargo build --example {name} took over 15 minutes"));
    assert!(status.success(), "cargo build --example {name} failed");
    let path = reader
        .join()
        .expect("reader thread")
        .unwrap_or_else(|| panic!("cargo reported no executable for {name}"));
    assert!(path.exists(), "{} does not exist", path.display());
    path
}

/// Waits up to `timeout` for `child` to exit.
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}
