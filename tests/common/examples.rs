//! The crate's examples as built executables, for the tests that run them as
//! separate processes.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// The executable of the example `name`, where `cargo test` (which builds
/// every example before running any test) or `cargo build --examples` left
/// it: `target/<profile>/examples/<name>`, beside this test's
/// `target/<profile>/deps/`. Tests never build; they refuse an executable
/// that is missing or older than one of its sources.
pub fn built_example(name: &str) -> PathBuf {
    let test = std::env::current_exe().expect("the test executable's path");
    let profile = test
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from target/<profile>/deps/");
    let example = profile
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let build_first =
        "run `cargo build --examples` (with the same features) first: scripts/test.sh \
                       does; `cargo test` alone does not build an example that has unit tests \
                       of its own (remote_console)";
    let Some(built) = modified(&example) else {
        panic!(
            "the example {name} is not built ({} is missing): {build_first}",
            example.display()
        );
    };
    if let Some(source) = sources(&example)
        .into_iter()
        .find(|s| modified(s) > Some(built))
    {
        panic!(
            "the example {name} is older than {}: {build_first}",
            source.display()
        );
    }
    example
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The source files of a built executable, from the dep-info file cargo
/// writes beside it (`<name>.d`: `<executable>: <source> <source> ...`,
/// a space inside a path escaped as `\ `).
fn sources(executable: &Path) -> Vec<PathBuf> {
    let dep_info = std::fs::read_to_string(executable.with_extension("d")).unwrap_or_default();
    let listed = dep_info.split_once(": ").map_or("", |(_, sources)| sources);
    listed
        .replace("\\ ", "\0")
        .split_whitespace()
        .map(|path| PathBuf::from(path.replace('\0', " ")))
        .collect()
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

/// How a program run to its end exited, and what it printed.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` with stdin closed, and waits (up to `timeout`, else it is
/// killed and the test fails) for it to exit. Its stderr is collected, and
/// echoed to the test's stderr so a failing test shows it.
pub fn run_to_end(command: &mut Command, timeout: Duration) -> Run {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let read_all = |mut stream: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut text = String::new();
            let _ = stream.read_to_string(&mut text);
            text
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = read_all(Box::new(child.stderr.take().expect("piped stderr")));
    let Some(status) = wait_child(&mut child, timeout) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{command:?} did not exit within {timeout:?}");
    };
    let stderr = stderr.join().expect("stderr reader thread");
    eprint!("{stderr}");
    Run {
        code: status.code(),
        stdout: stdout.join().expect("stdout reader thread"),
        stderr,
    }
}

/// The lines of `stream` (a child's stdout or stderr), as a thread reads
/// them to the end. Each is echoed to the test's stderr after `[label]`, so
/// a failing test shows what the process printed.
pub fn read_lines(stream: impl Read + Send + 'static, label: &'static str) -> Receiver<String> {
    let (sender, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            eprintln!("[{label}] {line}");
            // Keeps reading when nobody listens, so the child never blocks on a full pipe.
            let _ = sender.send(line);
        }
    });
    lines
}

/// The first line from `lines` that contains `needle`, waiting up to
/// `timeout`; panics if none comes.
pub fn line_containing(lines: &Receiver<String>, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(remaining) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(_) => panic!("no line containing {needle:?} within {timeout:?}"),
        }
    }
}

/// The number after `label` in `text`, e.g. 5556 in `port_after("port=",
/// "port=5556 ...")`.
pub fn port_after(label: &str, text: &str) -> Option<u16> {
    let start = text.find(label)? + label.len();
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}
