//! An operator console for a device running the auto-trainer API: send it
//! commands, watch what it publishes, see whether it is alive.
//!
//! Start a device in one terminal (the stand-in app of this crate):
//!
//! ```text
//! cargo run --example client_application -- --heartbeat-interval 1
//! ```
//!
//! and the console in another:
//!
//! ```text
//! cargo run --example remote_console
//! cargo run --example remote_console -- --host rig-7.lab --pub-port 5556 --cmd-port 5557
//! ```
//!
//! ## Interactive mode
//!
//! Without a subcommand it opens a prompt with line editing, history (`↑`)
//! and tab completion. Commands go by alias, protocol name or number, with
//! optional JSON data: `status`, `config`, `start [json]`, `stop [json]`,
//! `estop [reason]`, `resume`, `ping`, `send <command> [json]` (e.g.
//! `send GET_STATUS`, `send 400`), `custom <n> [json]` (USER_DEFINED with
//! `customCommand` n). Published messages appear as readable lines above the
//! prompt; `watch <topics>` chooses which (`event emergency property result
//! heartbeat raw`, or `all` / `none`; heartbeats are hidden at first).
//! Commands answered `PENDING_WITH_NOTIFICATION` are listed by `pending`, and
//! their result is shown when it arrives. `device` shows whether the device
//! is online, its identifier and the client's counters. `help`, `quit`
//! (also Ctrl-D or Ctrl-C).
//!
//! ## One-shot mode, for scripts
//!
//! ```text
//! remote_console send status                 # prints the reply
//! remote_console send start '{"animal_id": "m-001"}' --wait
//! remote_console --json listen --count 2     # prints two messages
//! ```
//!
//! `send` exits with **0** when the result is SUCCESS, PENDING or
//! PENDING_WITH_NOTIFICATION (with `--wait`: when the final COMMAND_RESULT is
//! SUCCESS), **1** for any other result (FAILED, EXCEPTION, UNRECOGNIZED,
//! UNAVAILABLE), **2** for a usage error, **3** when no reply (or result)
//! came in time. `listen --count N` exits 0 after N messages, 3 if
//! `--max-wait` passes first. `--json` prints one JSON object per line.

use std::collections::{BTreeSet, HashSet};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;

use auto_trainer_api::{
    ApiCommand, ApiCommandRequestResponse, ApiCommandRequestResult,
    ApiCommandRequestServiceResponse, ApiEvent, ApiTopic, ClientOptions, CommandCall, DeviceClient,
    DeviceMessage, Error, LinkState, Liveness, RawMessage, DEFAULT_COMMAND_PORT,
    DEFAULT_SUBSCRIBER_PORT,
};
use clap::{Parser, Subcommand};
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Editor, ExternalPrinter, Helper};
use serde_json::{json, Value};
use tokio::sync::watch;

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

/// Operator console for an auto-trainer API device.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The device's host name or IP address.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,

    /// The device's PUB port (events).
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_SUBSCRIBER_PORT)]
    pub_port: u16,

    /// The device's command port.
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_COMMAND_PORT)]
    cmd_port: u16,

    /// How long a command waits for its reply, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "5")]
    timeout: Seconds,

    /// Send a command again this many times when its reply is lost (only
    /// for commands that are safe to repeat).
    #[arg(long, default_value_t = 0)]
    retries: u32,

    /// Print one JSON object per line instead of readable text.
    #[arg(long)]
    json: bool,

    /// Log filter: error, warn, info, debug, trace, or tracing directives.
    #[arg(long, value_name = "FILTER", default_value = "warn")]
    log_level: String,

    /// Keep the prompt's history in this file.
    #[arg(long, value_name = "FILE")]
    history: Option<std::path::PathBuf>,

    #[command(subcommand)]
    mode: Option<Mode>,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Send one command, print the reply and exit (0 SUCCESS or PENDING*,
    /// 1 another result, 3 no reply).
    Send {
        /// An alias (status, config, start, stop, estop, resume, ping), a
        /// protocol name (GET_STATUS) or a number (400).
        command: String,
        /// The command's data, as JSON.
        data: Option<String>,
        /// The `customCommand` of a USER_DEFINED command.
        #[arg(long, value_name = "N")]
        custom: Option<i64>,
        /// For a PENDING_WITH_NOTIFICATION reply, wait for the COMMAND_RESULT
        /// (up to this many seconds) and exit by its result.
        #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "60")]
        wait: Option<Seconds>,
    },
    /// Print published messages and exit.
    Listen {
        /// How many messages to print (default: until Ctrl-C).
        #[arg(long)]
        count: Option<u64>,
        /// Only these topics (names such as event or numbers); repeatable.
        #[arg(long, value_name = "TOPIC")]
        topic: Vec<String>,
        /// Give up (exit 3) after this many seconds.
        #[arg(long, value_name = "SECONDS")]
        max_wait: Option<Seconds>,
    },
}

/// A duration given in seconds, such as `5` or `0.2`.
#[derive(Debug, Clone, Copy)]
struct Seconds(Duration);

impl std::str::FromStr for Seconds {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let seconds: f64 = text
            .parse()
            .map_err(|_| format!("'{text}' is not a number of seconds"))?;
        Duration::try_from_secs_f64(seconds)
            .ok()
            .filter(|d| !d.is_zero())
            .map(Seconds)
            .ok_or_else(|| format!("'{text}' is not a positive duration"))
    }
}

const EXIT_REFUSED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_NO_ANSWER: u8 = 3;

/// How long the prompt keeps waiting for the result of a pending command.
const RESULT_PATIENCE: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------------------
// Commands and topics by name
// ---------------------------------------------------------------------------

const ALIASES: &[(&str, ApiCommand)] = &[
    ("status", ApiCommand::GetStatus),
    ("config", ApiCommand::GetConfiguration),
    ("start", ApiCommand::StartAcquisition),
    ("stop", ApiCommand::StopAcquisition),
    ("estop", ApiCommand::EmergencyStop),
    ("resume", ApiCommand::EmergencyResume),
    ("ping", ApiCommand::None),
    ("custom", ApiCommand::UserDefined),
];

/// A command by alias, protocol name (any case, `_` or `-`) or number.
fn resolve_command(word: &str) -> Option<ApiCommand> {
    let lower = word.to_ascii_lowercase();
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == lower)
        .map(|(_, command)| *command)
        .or_else(|| word.parse().ok())
}

const TOPIC_WORDS: &[(&str, ApiTopic)] = &[
    ("heartbeat", ApiTopic::Heartbeat),
    ("emergency", ApiTopic::Emergency),
    ("event", ApiTopic::Event),
    ("property", ApiTopic::PropertyChange),
    ("result", ApiTopic::CommandResult),
];

/// What `watch` and `listen --topic` select: a topic, or raw messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Shown {
    Topic(u32),
    Raw,
}

fn resolve_shown(word: &str) -> Option<Shown> {
    let lower = word.to_ascii_lowercase();
    if lower == "raw" {
        return Some(Shown::Raw);
    }
    TOPIC_WORDS
        .iter()
        .find(|(name, _)| lower == *name || lower == format!("{name}s"))
        .map(|(_, topic)| *topic)
        .or_else(|| word.parse::<ApiTopic>().ok())
        .map(|topic| Shown::Topic(topic.value()))
}

fn shown_kind(message: &DeviceMessage) -> Shown {
    match (message, message.topic()) {
        (DeviceMessage::Raw(_), _) | (_, None) => Shown::Raw,
        (_, Some(topic)) => Shown::Topic(topic.value()),
    }
}

fn shown_name(shown: Shown) -> String {
    match shown {
        Shown::Raw => "raw".into(),
        Shown::Topic(value) => TOPIC_WORDS
            .iter()
            .find(|(_, t)| t.value() == value)
            .map_or_else(|| value.to_string(), |(name, _)| (*name).to_owned()),
    }
}

fn all_shown() -> BTreeSet<Shown> {
    TOPIC_WORDS
        .iter()
        .map(|(_, t)| Shown::Topic(t.value()))
        .chain([Shown::Raw])
        .collect()
}

// ---------------------------------------------------------------------------
// Output: readable lines or JSON, above the prompt when there is one
// ---------------------------------------------------------------------------

/// Where lines go: while a prompt is open, to a thread that owns rustyline's
/// external printer (so they never corrupt the line being typed), else stdout.
///
/// The printer may block (rustyline hands it one line at a time and takes
/// it only while reading a line), so only that thread ever calls it: the
/// prompt, the message task and the log writer just queue their lines.
#[derive(Clone, Default)]
struct Output {
    printer: Arc<Mutex<Option<std_mpsc::Sender<String>>>>,
    /// Whether the prompt is reading a line. Otherwise lines are written at
    /// once, so that none can land after a prompt being drawn.
    reading: Arc<AtomicBool>,
    json: bool,
}

impl Output {
    fn printer(&self) -> MutexGuard<'_, Option<std_mpsc::Sender<String>>> {
        self.printer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends lines through `printer` from now on.
    fn attach(&self, mut printer: impl ExternalPrinter + Send + 'static) {
        let (sender, lines) = std_mpsc::channel::<String>();
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

    /// Back to stdout.
    fn detach(&self) {
        self.printer().take();
    }

    fn set_reading(&self, reading: bool) {
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

    fn line(&self, text: String) {
        if self.queue(&text) {
            return;
        }
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
        let _ = stdout.flush();
    }

    /// A readable line, or its JSON form with `--json`.
    fn show(&self, text: String, value: impl FnOnce() -> Value) {
        if self.json {
            self.line(value().to_string());
        } else {
            self.line(text);
        }
    }

    fn message(&self, message: &DeviceMessage) {
        self.show(message_text(message), || message_json(message));
    }

    fn reply(&self, reply: &ApiCommandRequestServiceResponse) {
        self.show(reply_text(reply), || reply_json(reply));
    }

    fn result(&self, result: &ApiCommandRequestResponse) {
        self.show(
            format!("result of {}", result_text(result)),
            || json!({"type": "result", "result": result_json(result)}),
        );
    }

    /// A liveness line; `detailed` adds the heartbeat timing (by the time
    /// someone asks, the interval has been learned).
    fn liveness(&self, liveness: &Liveness, host: &str, detailed: bool) {
        let name = liveness.identifier.as_deref().unwrap_or(host);
        let mut text = match liveness.state {
            LinkState::Connecting => format!("connecting to {host}"),
            LinkState::Online => format!(
                "device {name} is online (version {})",
                liveness.version.as_deref().unwrap_or("?")
            ),
            LinkState::Offline => format!("device {name} is offline"),
        };
        if detailed {
            text += &format!(
                "; heartbeat every {:.1} s",
                liveness.heartbeat_interval.as_secs_f64()
            );
            if let Some(last) = liveness.last_heartbeat {
                text += &format!(", last {:.1} s ago", last.elapsed().as_secs_f64());
            }
        }
        self.show(text, || {
            json!({
                "type": "liveness",
                "state": liveness.state.to_string(),
                "identifier": liveness.identifier,
                "version": liveness.version,
                "heartbeatSeconds": liveness.heartbeat_interval.as_secs_f64(),
            })
        });
    }

    fn error(&self, text: impl std::fmt::Display) {
        self.show(
            format!("error: {text}"),
            || json!({"type": "error", "error": text.to_string()}),
        );
    }
}

fn compact(value: &Value) -> String {
    value.to_string()
}

fn event_text(topic: &str, event: &ApiEvent) -> String {
    let kind = match event.kind.name() {
        Some(name) => format!("{name} ({})", event.kind.value()),
        None => format!("{} (unknown kind)", event.kind.value()),
    };
    match &event.context {
        Some(context) => format!("{topic} {kind} {}", compact(context)),
        None => format!("{topic} {kind}"),
    }
}

fn result_text(result: &ApiCommandRequestResponse) -> String {
    let mut text = format!(
        "{} (nonce {}): {}",
        result.command, result.nonce, result.result
    );
    if result.error_code != 0 || result.error_message.is_some() {
        text += &format!(
            " [error {}: {}]",
            result.error_code,
            result.error_message.as_deref().unwrap_or("")
        );
    }
    if let Some(data) = &result.data {
        text += &format!(" {}", compact(data));
    }
    text
}

fn raw_text(raw: &RawMessage) -> String {
    let topic = raw
        .topic
        .map_or_else(|| "?".to_owned(), |t| t.value().to_string());
    let body = raw
        .frames
        .get(1)
        .map(|b| {
            String::from_utf8_lossy(b)
                .chars()
                .take(120)
                .collect::<String>()
        })
        .unwrap_or_default();
    format!(
        "RAW topic {topic} ({}), {} frame(s): {body}",
        raw.reason,
        raw.frames.len()
    )
}

fn message_text(message: &DeviceMessage) -> String {
    match message {
        DeviceMessage::Heartbeat(h) => {
            format!("HEARTBEAT {} (version {})", h.identifier, h.version)
        }
        DeviceMessage::Emergency(e) => event_text("EMERGENCY", e),
        DeviceMessage::Event(e) => event_text("EVENT", e),
        DeviceMessage::PropertyChange(v) => format!("PROPERTY_CHANGE {}", compact(v)),
        DeviceMessage::CommandResult(r) => format!("COMMAND_RESULT {}", result_text(r)),
        DeviceMessage::Raw(raw) => raw_text(raw),
        other => format!("{other:?}"),
    }
}

fn event_json(event: &ApiEvent) -> Value {
    json!({
        "kind": event.kind.value(),
        "kindName": event.kind.name(),
        "when": event.when,
        "index": event.index,
        "context": event.context,
    })
}

fn result_json(result: &ApiCommandRequestResponse) -> Value {
    json!({
        "nonce": result.nonce,
        "command": result.command.value(),
        "commandName": result.command.name(),
        "result": result.result.value(),
        "resultName": result.result.name(),
        "data": result.data,
        "errorCode": result.error_code,
        "errorMessage": result.error_message,
    })
}

fn message_json(message: &DeviceMessage) -> Value {
    let topic = message.topic().map(|t| t.value());
    let (kind, body) = match message {
        DeviceMessage::Heartbeat(h) => ("heartbeat", json!(h)),
        DeviceMessage::Emergency(e) => ("emergency", event_json(e)),
        DeviceMessage::Event(e) => ("event", event_json(e)),
        DeviceMessage::PropertyChange(v) => ("property", v.clone()),
        DeviceMessage::CommandResult(r) => ("result", result_json(r)),
        DeviceMessage::Raw(raw) => (
            "raw",
            json!({
                "reason": raw.reason.to_string(),
                "framesHex": raw.frames.iter().map(|f| hex(f)).collect::<Vec<_>>(),
            }),
        ),
        other => ("other", json!(format!("{other:?}"))),
    };
    json!({"type": kind, "topic": topic, "message": body})
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn reply_text(reply: &ApiCommandRequestServiceResponse) -> String {
    let mut text = format!(
        "reply to {} (nonce {}): {}",
        reply.command, reply.nonce, reply.result
    );
    if reply.error_code != 0 || reply.error_message.is_some() || reply.error_kind.value() != 0 {
        text += &format!(
            " [{} {}: {}]",
            reply.error_kind,
            reply.error_code,
            reply.error_message.as_deref().unwrap_or("")
        );
    }
    if let Some(data) = &reply.data {
        text += &format!(" {}", compact(data));
    }
    text
}

fn reply_json(reply: &ApiCommandRequestServiceResponse) -> Value {
    json!({
        "type": "reply",
        "nonce": reply.nonce,
        "command": reply.command.value(),
        "commandName": reply.command.name(),
        "result": reply.result.value(),
        "resultName": reply.result.name(),
        "data": reply.data,
        "errorKind": reply.error_kind.value(),
        "errorCode": reply.error_code,
        "errorMessage": reply.error_message,
    })
}

fn is_success(result: ApiCommandRequestResult) -> bool {
    matches!(
        result,
        ApiCommandRequestResult::Success
            | ApiCommandRequestResult::Pending
            | ApiCommandRequestResult::PendingWithNotification
    )
}

// ---------------------------------------------------------------------------
// Logging, through the same output so log lines do not break the prompt
// ---------------------------------------------------------------------------

struct LogLine {
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
        if self.buffer.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.buffer).trim_end().to_owned();
        if !self.output.queue(&text) {
            eprintln!("{text}");
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

fn init_logging(filter: &str, output: Output) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|error| format!("invalid --log-level '{filter}': {error}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false)
        .with_writer(output)
        .try_init()
        .map_err(|error| error.to_string())
}

// ---------------------------------------------------------------------------
// One-shot modes
// ---------------------------------------------------------------------------

fn parse_data(text: Option<&str>) -> Result<Option<Value>, String> {
    text.map(|t| serde_json::from_str(t).map_err(|e| format!("invalid JSON data '{t}': {e}")))
        .transpose()
}

async fn send_once(
    client: &DeviceClient,
    output: &Output,
    call: CommandCall,
    wait: Option<Duration>,
) -> u8 {
    let reply = match client.send(call).await {
        Ok(reply) => reply,
        Err(error) => {
            output.error(&error);
            return match error {
                Error::RequestTimeout { .. } | Error::Transport { .. } | Error::ClientClosed => {
                    EXIT_NO_ANSWER
                }
                _ => EXIT_REFUSED,
            };
        }
    };
    output.reply(&reply);
    match wait {
        Some(patience) if reply.result == ApiCommandRequestResult::PendingWithNotification => {
            match client.wait_for_result(reply.nonce, patience).await {
                Ok(result) => {
                    output.result(&result);
                    if result.result == ApiCommandRequestResult::Success {
                        0
                    } else {
                        EXIT_REFUSED
                    }
                }
                Err(error) => {
                    output.error(&error);
                    EXIT_NO_ANSWER
                }
            }
        }
        _ if is_success(reply.result) => 0,
        _ => EXIT_REFUSED,
    }
}

async fn listen(
    client: &DeviceClient,
    output: &Output,
    count: Option<u64>,
    shown: Option<BTreeSet<Shown>>,
    max_wait: Option<Duration>,
    mut interrupted: watch::Receiver<bool>,
) -> u8 {
    let mut messages = client.subscribe();
    let mut printed = 0;
    let deadline = max_wait.map(|d| tokio::time::Instant::now() + d);
    while count.is_none_or(|n| printed < n) {
        let next = async {
            match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, messages.recv())
                    .await
                    .ok(),
                None => Some(messages.recv().await),
            }
        };
        let message = tokio::select! {
            m = next => m,
            _ = interrupted.wait_for(|i| *i) => return 0,
        };
        match message {
            Some(Some(message)) => {
                if shown
                    .as_ref()
                    .is_none_or(|s| s.contains(&shown_kind(&message)))
                {
                    output.message(&message);
                    printed += 1;
                }
            }
            Some(None) => return EXIT_NO_ANSWER,
            None => {
                output.error(format!("only {printed} message(s) before --max-wait"));
                return EXIT_NO_ANSWER;
            }
        }
    }
    0
}

// ---------------------------------------------------------------------------
// Interactive mode
// ---------------------------------------------------------------------------

const VERBS: &[&str] = &[
    "help", "quit", "exit", "status", "config", "start", "stop", "estop", "resume", "ping", "send",
    "custom", "watch", "pending", "device",
];

const HELP: &str = "\
commands (data is optional JSON, e.g. start {\"animal_id\": \"m-001\"}):
  status | config | start [json] | stop [json] | resume | ping
  estop [reason]            emergency stop, with a reason text or JSON data
  send <command> [json]     any command by name or number (send GET_STATUS, send 400)
  custom <n> [json]         USER_DEFINED with customCommand n
  <command> [json]          a command name or number on its own works too
  watch [all|none|topics]   which messages to show: event emergency property result heartbeat raw
  pending                   commands awaiting their result
  device                    online state, identifier and counters
  help | quit";

struct ConsoleHelper;

impl Completer for ConsoleHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = &line[..pos];
        let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let word = before[start..].to_ascii_lowercase();
        let first = before.split_whitespace().next().unwrap_or("");
        let options: Vec<String> = if start == 0 {
            VERBS
                .iter()
                .map(|v| (*v).to_owned())
                .chain(
                    ApiCommand::ALL
                        .iter()
                        .filter_map(|c| c.name().map(str::to_owned)),
                )
                .collect()
        } else if first == "send" && before[..start].split_whitespace().count() == 1 {
            ALIASES
                .iter()
                .map(|(a, _)| (*a).to_owned())
                .chain(
                    ApiCommand::ALL
                        .iter()
                        .filter_map(|c| c.name().map(str::to_owned)),
                )
                .collect()
        } else if first == "watch" {
            ["all", "none", "raw"]
                .into_iter()
                .chain(TOPIC_WORDS.iter().map(|(n, _)| *n))
                .map(str::to_owned)
                .collect()
        } else {
            Vec::new()
        };
        let matches = options
            .into_iter()
            .filter(|o| o.to_ascii_lowercase().starts_with(&word))
            .collect();
        Ok((start, matches))
    }
}

impl Hinter for ConsoleHelper {
    type Hint = String;
}
impl Highlighter for ConsoleHelper {}
impl Validator for ConsoleHelper {}
impl Helper for ConsoleHelper {}

/// State shared by the prompt and the tasks printing in the background.
#[derive(Clone)]
struct Session {
    client: DeviceClient,
    output: Output,
    shown: Arc<Mutex<BTreeSet<Shown>>>,
    /// Nonces of this console's pending commands (their results are printed
    /// by the task awaiting them) and of results already printed.
    mine: Arc<Mutex<HashSet<i64>>>,
    printed: Arc<Mutex<HashSet<i64>>>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Session {
    fn print_message(&self, message: &DeviceMessage) {
        if let DeviceMessage::CommandResult(result) = message {
            if locked(&self.mine).contains(&result.nonce)
                || !locked(&self.printed).insert(result.nonce)
            {
                return;
            }
        }
        if locked(&self.shown).contains(&shown_kind(message)) {
            self.output.message(message);
        }
    }

    /// Prints the result of one of this console's pending commands when it arrives.
    async fn follow(self, nonce: i64) {
        match self.client.wait_for_result(nonce, RESULT_PATIENCE).await {
            Ok(result) => {
                if locked(&self.printed).insert(nonce) {
                    self.output.result(&result);
                }
            }
            Err(error) => self.output.error(format!("nonce {nonce}: {error}")),
        }
        locked(&self.mine).remove(&nonce);
    }
}

/// Splits `text` into its first word and the rest.
fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim();
    match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], text[i..].trim()),
        None => (text, ""),
    }
}

fn optional(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

/// What a prompt line asks for.
enum Action {
    Call(CommandCall),
    Quit,
    Done,
}

fn interpret(session: &Session, line: &str) -> Result<Action, String> {
    let (verb, rest) = split_word(line);
    let call = |command: ApiCommand, data: &str| -> Result<Action, String> {
        Ok(Action::Call(
            CommandCall::new(command).maybe_data(parse_data(optional(data))?),
        ))
    };
    match verb.to_ascii_lowercase().as_str() {
        "" => Ok(Action::Done),
        "quit" | "exit" => Ok(Action::Quit),
        "help" | "?" => {
            session.output.line(HELP.to_owned());
            Ok(Action::Done)
        }
        "estop" => {
            let data = if rest.starts_with('{') {
                parse_data(Some(rest))?
            } else {
                optional(rest).map(|reason| json!({ "reason": reason }))
            };
            Ok(Action::Call(
                CommandCall::new(ApiCommand::EmergencyStop).maybe_data(data),
            ))
        }
        "send" => {
            let (name, data) = split_word(rest);
            let command = resolve_command(name).ok_or_else(|| {
                format!("unknown command '{name}' (try: send GET_STATUS, send 400)")
            })?;
            call(command, data)
        }
        "custom" => {
            let (number, data) = split_word(rest);
            let custom: i64 = number
                .parse()
                .map_err(|_| format!("custom needs a number, got '{number}'"))?;
            Ok(Action::Call(
                CommandCall::new(ApiCommand::UserDefined)
                    .custom_command(custom)
                    .maybe_data(parse_data(optional(data))?),
            ))
        }
        "watch" => {
            watch_topics(session, rest)?;
            Ok(Action::Done)
        }
        "pending" => {
            let awaited = session.client.awaited_commands();
            if awaited.is_empty() {
                session
                    .output
                    .line("no command is awaiting its result".into());
            }
            for command in awaited {
                let age = command.since.elapsed().unwrap_or_default().as_secs_f64();
                session.output.show(
                    format!("pending: {} (nonce {}), {age:.1} s", command.command, command.nonce),
                    || json!({"type": "pending", "nonce": command.nonce, "command": command.command.value(), "seconds": age}),
                );
            }
            Ok(Action::Done)
        }
        "device" => {
            let liveness = session.client.liveness().borrow().clone();
            session
                .output
                .liveness(&liveness, &session.client.options().host, true);
            let stats = session.client.stats();
            let text = format!(
                "messages {} (raw {}, malformed {}, skipped {}), PUB connections {}, \
                 requests {}, replies {}, timeouts {}, invalid replies {}",
                stats.messages_received,
                stats.raw_messages,
                stats.malformed_messages,
                stats.lagged_messages,
                stats.publisher_connections,
                stats.requests_sent,
                stats.replies_received,
                stats.request_timeouts,
                stats.invalid_replies
            );
            session.output.show(text, || {
                json!({"type": "stats", "messagesReceived": stats.messages_received,
                       "rawMessages": stats.raw_messages, "malformedMessages": stats.malformed_messages,
                       "requestTimeouts": stats.request_timeouts})
            });
            Ok(Action::Done)
        }
        _ => {
            let command = resolve_command(verb)
                .ok_or_else(|| format!("unknown command '{verb}'; type 'help'"))?;
            call(command, rest)
        }
    }
}

fn watch_topics(session: &Session, words: &str) -> Result<(), String> {
    let mut shown = locked(&session.shown);
    match words.trim().to_ascii_lowercase().as_str() {
        "" => {}
        "all" => *shown = all_shown(),
        "none" => shown.clear(),
        _ => {
            let chosen = words
                .split_whitespace()
                .map(|w| resolve_shown(w).ok_or_else(|| format!("unknown topic '{w}'")))
                .collect::<Result<BTreeSet<_>, _>>()?;
            *shown = chosen;
        }
    }
    let names: Vec<String> = shown.iter().map(|s| shown_name(*s)).collect();
    session.output.line(format!(
        "watching: {}",
        if names.is_empty() {
            "nothing".to_owned()
        } else {
            names.join(" ")
        }
    ));
    Ok(())
}

fn interactive(
    args: &Args,
    runtime: &tokio::runtime::Runtime,
    client: DeviceClient,
    output: Output,
    mut interrupted: watch::Receiver<bool>,
) -> u8 {
    let mut editor: Editor<ConsoleHelper, DefaultHistory> = match Editor::new() {
        Ok(editor) => editor,
        Err(error) => {
            eprintln!("remote_console: cannot open the prompt: {error}");
            return 1;
        }
    };
    editor.set_helper(Some(ConsoleHelper));
    if let Some(path) = &args.history {
        let _ = editor.load_history(path);
    }
    if std::io::stdin().is_terminal() {
        if let Ok(printer) = editor.create_external_printer() {
            output.attach(printer);
        }
    }

    let mut shown = all_shown();
    shown.remove(&Shown::Topic(ApiTopic::Heartbeat.value()));
    let session = Session {
        client: client.clone(),
        output: output.clone(),
        shown: Arc::new(Mutex::new(shown)),
        mine: Arc::default(),
        printed: Arc::default(),
    };

    let printer = session.clone();
    let mut messages = client.subscribe();
    runtime.spawn(async move {
        while let Some(message) = messages.recv().await {
            printer.print_message(&message);
        }
    });
    let mut liveness = client.liveness();
    let host = args.host.clone();
    let watcher = output.clone();
    runtime.spawn(async move {
        while liveness.changed().await.is_ok() {
            let now = liveness.borrow_and_update().clone();
            watcher.liveness(&now, &host, false);
        }
    });

    output.line(format!(
        "remote console for {} (events on port {}, commands on port {}); type 'help'",
        args.host, args.pub_port, args.cmd_port
    ));
    loop {
        output.set_reading(true);
        let read = editor.readline("> ");
        output.set_reading(false);
        let line = match read {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) | Err(ReadlineError::Eof) => break,
            Err(error) => {
                output.error(format!("prompt: {error}"));
                break;
            }
        };
        if !line.trim().is_empty() {
            let _ = editor.add_history_entry(line.as_str());
        }
        let call = match interpret(&session, &line) {
            Ok(Action::Call(call)) => call,
            Ok(Action::Done) => continue,
            Ok(Action::Quit) => break,
            Err(message) => {
                output.error(message);
                continue;
            }
        };
        let outcome = runtime.block_on(async {
            tokio::select! {
                outcome = client.send(call) => Some(outcome),
                _ = interrupted.wait_for(|i| *i) => None,
            }
        });
        match outcome {
            None => break,
            Some(Err(error)) => output.error(error),
            Some(Ok(reply)) => {
                output.reply(&reply);
                if reply.result == ApiCommandRequestResult::PendingWithNotification {
                    locked(&session.mine).insert(reply.nonce);
                    output.show(
                        format!(
                            "pending: the result of nonce {} will be shown when it arrives",
                            reply.nonce
                        ),
                        || json!({"type": "pending", "nonce": reply.nonce}),
                    );
                    runtime.spawn(session.clone().follow(reply.nonce));
                }
            }
        }
    }
    if let Some(path) = &args.history {
        let _ = editor.save_history(path);
    }
    output.detach();
    0
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

fn main() -> ExitCode {
    let args = Args::parse();
    let output = Output {
        json: args.json,
        ..Output::default()
    };
    if let Err(message) = init_logging(&args.log_level, output.clone()) {
        eprintln!("remote_console: {message}");
        return ExitCode::from(EXIT_USAGE);
    }

    let mut options =
        ClientOptions::new(args.host.clone()).with_ports(args.pub_port, args.cmd_port);
    options.request_timeout = args.timeout.0;
    options.retries = args.retries;
    let client = match DeviceClient::connect(options) {
        Ok(client) => client,
        Err(error) => {
            eprintln!("remote_console: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("remote_console: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };

    // Ctrl-C outside the prompt (and SIGTERM) ends the console cleanly.
    let (interrupt, interrupted) = watch::channel(false);
    if let Err(error) = ctrlc::set_handler(move || {
        interrupt.send_replace(true);
    }) {
        eprintln!("remote_console: cannot handle SIGINT/SIGTERM: {error}");
        return ExitCode::FAILURE;
    }

    let code = match &args.mode {
        None => interactive(&args, &runtime, client.clone(), output, interrupted),
        Some(Mode::Send {
            command,
            data,
            custom,
            wait,
        }) => {
            let Some(command) = resolve_command(command) else {
                eprintln!("remote_console: unknown command '{command}'");
                return ExitCode::from(EXIT_USAGE);
            };
            let data = match parse_data(data.as_deref()) {
                Ok(data) => data,
                Err(message) => {
                    eprintln!("remote_console: {message}");
                    return ExitCode::from(EXIT_USAGE);
                }
            };
            let mut call = CommandCall::new(command).maybe_data(data);
            if let Some(custom) = custom {
                call = call.custom_command(*custom);
            }
            runtime.block_on(send_once(&client, &output, call, wait.map(|w| w.0)))
        }
        Some(Mode::Listen {
            count,
            topic,
            max_wait,
        }) => {
            let shown = if topic.is_empty() {
                None
            } else {
                match topic
                    .iter()
                    .map(|t| resolve_shown(t).ok_or_else(|| format!("unknown topic '{t}'")))
                    .collect::<Result<BTreeSet<_>, _>>()
                {
                    Ok(shown) => Some(shown),
                    Err(message) => {
                        eprintln!("remote_console: {message}");
                        return ExitCode::from(EXIT_USAGE);
                    }
                }
            };
            runtime.block_on(listen(
                &client,
                &output,
                *count,
                shown,
                max_wait.map(|w| w.0),
                interrupted,
            ))
        }
    };
    // Stop the printing tasks first, so closing does not announce "offline".
    drop(runtime);
    client.close();
    ExitCode::from(code)
}
