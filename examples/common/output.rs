//! Where printed lines go: above the prompt while it reads a line, else
//! straight to stdout (program output) or stderr (log lines).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};

use rustyline::ExternalPrinter;

/// The printing side of the prompt, shared by every thread that prints.
///
/// rustyline's external printer may block (it hands over one line at a time
/// and takes it only while reading a line), so only one thread ever calls
/// it: the others just queue their lines for that thread.
#[derive(Clone, Default)]
pub struct Output {
    printer: Arc<Mutex<Option<mpsc::Sender<String>>>>,
    /// Whether the prompt is reading a line. Otherwise lines are written at
    /// once, so that none can land after a prompt being drawn.
    reading: Arc<AtomicBool>,
}

impl Output {
    fn printer(&self) -> MutexGuard<'_, Option<mpsc::Sender<String>>> {
        self.printer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends lines through `printer` while the prompt reads.
    pub fn attach(&self, mut printer: impl ExternalPrinter + Send + 'static) {
        let (sender, lines) = mpsc::channel::<String>();
        let spawned = std::thread::Builder::new()
            .name("printer".into())
            .spawn(move || {
                for line in lines {
                    // Outside the prompt rustyline writes the text as is: end the line.
                    if printer.print(format!("{line}\n")).is_err() {
                        println!("{line}");
                    }
                }
            });
        if spawned.is_ok() {
            *self.printer() = Some(sender);
        }
    }

    /// Back to stdout and stderr.
    pub fn detach(&self) {
        self.printer().take();
    }

    pub(super) fn set_reading(&self, reading: bool) {
        self.reading.store(reading, Ordering::SeqCst);
    }

    /// Queues `text` for the printer thread; false when there is none or
    /// the prompt is not reading.
    fn queue(&self, text: &str) -> bool {
        self.reading.load(Ordering::SeqCst)
            && self
                .printer()
                .as_ref()
                .is_some_and(|printer| printer.send(text.to_owned()).is_ok())
    }

    /// A line of the program's output (stdout).
    pub fn line(&self, text: impl Into<String>) {
        let text = text.into();
        if self.queue(&text) {
            return;
        }
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
        let _ = stdout.flush();
    }

    /// A log line (stderr).
    pub fn log(&self, text: &str) {
        if !self.queue(text) {
            eprintln!("{text}");
        }
    }
}
