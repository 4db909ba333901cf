//! Logging through [`Output`], so that log lines do not break the prompt,
//! and off the threads that log: a log that is not read (a paused terminal,
//! a stuck log shipper) must never stall the service's command loop.

use std::io::Write;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};

use super::output::Output;

/// Log lines waiting for the writer thread before new ones are dropped.
const BUFFERED_LINES: usize = 10_000;

/// Keeps the log's writer thread running; when dropped, it writes what is
/// left and says how many lines were dropped, if any.
pub struct Logging {
    dropped: ErrorCounter,
    _writer: WorkerGuard,
}

impl Drop for Logging {
    fn drop(&mut self) {
        let dropped = self.dropped.dropped_lines();
        if dropped > 0 {
            eprintln!("{dropped} log line(s) were dropped: the log was not read fast enough");
        }
    }
}

/// Installs the `tracing` subscriber: `filter` is a level or tracing
/// directives (the `--log-level` flag), `ansi` whether to colour the lines.
/// Lines are formatted where they are logged and written by a thread of
/// their own; when it falls behind by [`BUFFERED_LINES`], new lines are
/// dropped and counted rather than waited for.
pub fn init_logging(filter: &str, output: Output, ansi: bool) -> Result<Logging, String> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|error| format!("invalid --log-level '{filter}': {error}"))?;
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("log-writer")
        .finish(output.make_log_line());
    let dropped = writer.error_counter();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(writer)
        .try_init()
        .map_err(|error| error.to_string())?;
    Ok(Logging {
        dropped,
        _writer: guard,
    })
}

/// One log line, handed over whole when the logger is done with it.
pub struct LogLine {
    output: Output,
    buffer: Vec<u8>,
}

impl Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if bytes.ends_with(b"\n") {
            self.hand_over();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.hand_over();
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        self.hand_over();
    }
}

impl LogLine {
    fn hand_over(&mut self) {
        if !self.buffer.is_empty() {
            self.output
                .log(String::from_utf8_lossy(&self.buffer).trim_end());
            self.buffer.clear();
        }
    }
}

impl Output {
    /// The writer the log's thread writes to: each write is one whole line
    /// (the formatter writes an event at once).
    fn make_log_line(&self) -> LogLine {
        LogLine {
            output: self.clone(),
            buffer: Vec::new(),
        }
    }
}
