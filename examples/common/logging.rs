//! Logging through [`Output`], so that log lines do not break the prompt.

use std::io::Write;

use super::output::Output;

/// Installs the `tracing` subscriber: `filter` is a level or tracing
/// directives (the `--log-level` flag), `ansi` whether to colour the lines.
pub fn init_logging(filter: &str, output: Output, ansi: bool) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|error| format!("invalid --log-level '{filter}': {error}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(output)
        .try_init()
        .map_err(|error| error.to_string())
}

/// One log line, handed over whole when the logger is done with it.
pub struct LogLine {
    output: Output,
    buffer: Vec<u8>,
}

impl Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if !self.buffer.is_empty() {
            self.output
                .log(String::from_utf8_lossy(&self.buffer).trim_end());
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Output {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine {
            output: self.clone(),
            buffer: Vec::new(),
        }
    }
}
