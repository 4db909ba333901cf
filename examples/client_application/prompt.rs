//! The operator's prompt: publish events by hand, look at the device.

use auto_trainer_api::{ApiEventKind, PendingCommand, ServiceStats};
use serde_json::Value;

use crate::common::output::Output;
use crate::common::prompt::{Flow, Prompt};
use crate::device::Device;

/// The prompt's commands: name, arguments, what it does. Used for `help`
/// and tab completion.
const PROMPT_COMMANDS: &[(&str, &str, &str)] = &[
    ("help", "", "this list"),
    (
        "event",
        "<kind name or number> [json context]",
        "publish an EVENT (the state does not change)",
    ),
    ("property", "<json object>", "publish a PROPERTY_CHANGE"),
    (
        "estop",
        "[reason]",
        "emergency stop, as the EMERGENCY_STOP command",
    ),
    (
        "resume",
        "[reason]",
        "resume, as the EMERGENCY_RESUME command",
    ),
    ("state", "", "what the device is doing"),
    ("pending", "", "commands awaiting their COMMAND_RESULT"),
    ("stats", "", "the service's counters"),
    (
        "quit",
        "",
        "stop the service and exit (also Ctrl-C, Ctrl-D)",
    ),
];

/// Reads prompt lines until `quit`, Ctrl-C or Ctrl-D. `ports` are the
/// service's PUB and command ports.
pub fn run_prompt(device: &Device, output: &Output, ports: (u16, u16)) -> rustyline::Result<()> {
    let mut prompt = Prompt::open(output, None, candidates)?;
    let (publisher_port, command_port) = ports;
    output.line(format!(
        "{} serving on PUB port {publisher_port}, command port {command_port}. Type 'help'.",
        device.identifier()
    ));
    prompt.run("device> ", |line| run_line(device, output, line))
}

/// Tab completion: command names, then event kind names after `event`.
fn candidates(before: &[&str]) -> Vec<String> {
    match before {
        [] => PROMPT_COMMANDS
            .iter()
            .map(|(name, ..)| (*name).to_owned())
            .collect(),
        ["event"] => ApiEventKind::ALL
            .iter()
            .filter_map(|kind| kind.name())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Runs one prompt line.
fn run_line(device: &Device, output: &Output, line: &str) -> Flow {
    let (word, rest) = line
        .split_once(char::is_whitespace)
        .map_or((line, ""), |(w, r)| (w, r.trim()));
    let outcome = match word {
        "help" => Ok(help_text()),
        "event" => parse_event(rest).map(|(kind, context)| {
            device.publish_event(kind, context);
            String::new()
        }),
        "property" => parse_object(rest).map(|property| {
            device.publish_property(property);
            String::new()
        }),
        "estop" => {
            device.emergency_stop(or_operator(rest));
            Ok(String::new())
        }
        "resume" => device
            .emergency_resume(or_operator(rest))
            .map(|()| String::new())
            .map_err(|refusal| refusal.message().to_owned()),
        "state" => Ok(format!("state: {}", device.describe())),
        "pending" => Ok(pending_text(device.pending_commands())),
        "stats" => Ok(stats_text(&device.stats())),
        "quit" | "exit" => return Flow::Quit,
        other => Err(format!("unknown command '{other}'; type 'help'")),
    };
    match outcome {
        Ok(text) if text.is_empty() => {}
        Ok(text) => output.line(text),
        Err(message) => output.line(format!("error: {message}")),
    }
    Flow::Continue
}

/// The reason typed at the prompt, or a default naming the operator.
fn or_operator(reason: &str) -> &str {
    if reason.is_empty() {
        "operator at the console"
    } else {
        reason
    }
}

fn help_text() -> String {
    let usage = |(name, arguments, _): &(&str, &str, &str)| format!("{name} {arguments}");
    let width = PROMPT_COMMANDS
        .iter()
        .map(|c| usage(c).len())
        .max()
        .unwrap_or(0);
    PROMPT_COMMANDS
        .iter()
        .map(|command| format!("  {:<width$}  {}", usage(command), command.2))
        .collect::<Vec<_>>()
        .join("\n")
}

fn parse_event(arguments: &str) -> Result<(ApiEventKind, Option<Value>), String> {
    let (kind, context) = arguments
        .split_once(char::is_whitespace)
        .map_or((arguments, ""), |(k, c)| (k, c.trim()));
    if kind.is_empty() {
        return Err("usage: event <kind name or number> [json context]".into());
    }
    let kind: ApiEventKind = kind.parse().map_err(|e| format!("{e}"))?;
    let context = if context.is_empty() {
        None
    } else {
        Some(parse_object(context)?)
    };
    Ok((kind, context))
}

fn parse_object(text: &str) -> Result<Value, String> {
    match serde_json::from_str(text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err("expected a JSON object, like {\"key\": 1}".into()),
        Err(error) => Err(format!("invalid JSON: {error}")),
    }
}

fn pending_text(pending: Vec<PendingCommand>) -> String {
    if pending.is_empty() {
        return "no pending commands".into();
    }
    let mut text = format!("{} pending command(s):", pending.len());
    for command in pending {
        text += &format!(
            "\n  nonce {:<8} {:<20} pending for {:.2} s",
            command.nonce,
            command.command.to_string(),
            command.age.as_secs_f64()
        );
    }
    text
}

fn stats_text(s: &ServiceStats) -> String {
    format!(
        "published {} (heartbeats {}), accepted {}, dropped {}, rejected critical {}, send errors {}\n\
         queue {}/{}, requests {} (malformed {}), pending {}",
        s.published,
        s.heartbeats_sent,
        s.accepted,
        s.dropped,
        s.rejected_critical,
        s.send_errors,
        s.queue_depth,
        s.queue_capacity,
        s.requests,
        s.malformed_requests,
        s.pending_open
    )
}

/// The terminal's settings before the prompt. A signal can end the program
/// while rustyline waits for a key in raw mode, and nothing interrupts that
/// wait, so the settings are put back here rather than by rustyline.
pub struct TerminalSettings {
    #[cfg(unix)]
    saved: Option<nix::sys::termios::Termios>,
}

impl TerminalSettings {
    pub fn save() -> Self {
        Self {
            #[cfg(unix)]
            saved: nix::sys::termios::tcgetattr(std::io::stdin()).ok(),
        }
    }

    pub fn restore(&self) {
        #[cfg(unix)]
        if let Some(saved) = &self.saved {
            use nix::sys::termios::{tcsetattr, SetArg};
            let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, saved);
            println!();
        }
    }
}
