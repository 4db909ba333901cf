//! The operator's prompt: publish events by hand, look at the device.

use auto_trainer_api::{
    v0_12, v0_9, ApiEvent, EventKind, Generation, PendingCommand, ServiceStats,
};
use serde_json::Value;

use crate::common::output::Output;
use crate::common::prompt::{Flow, Prompt};
use crate::device::{Device, Origin};

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
    let generation = device.generation();
    let mut prompt = Prompt::open(output, None, move |before: &[&str]| {
        candidates(generation, before)
    })?;
    let (publisher_port, command_port) = ports;
    output.line(format!(
        "{} serving protocol {generation} on PUB port {publisher_port}, command port {command_port}. Type 'help'.",
        device.identifier()
    ));
    prompt.run("device> ", |line| run_line(device, output, line))
}

/// Tab completion: command names, then the generation's event kind names
/// after `event`.
fn candidates(generation: Generation, before: &[&str]) -> Vec<String> {
    match before {
        [] => PROMPT_COMMANDS
            .iter()
            .map(|(name, ..)| (*name).to_owned())
            .collect(),
        ["event"] => match generation {
            Generation::V0_9 => v0_9::ApiEventKind::ALL
                .iter()
                .filter_map(|kind| kind.name())
                .collect::<Vec<_>>(),
            Generation::V0_12 => v0_12::ApiEventKind::ALL
                .iter()
                .filter_map(|kind| kind.name())
                .collect(),
        }
        .into_iter()
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
        "event" => parse_event(device.generation(), rest).map(|(kind, context)| {
            device.publish(ApiEvent::new(kind, context));
            String::new()
        }),
        "property" => parse_object(rest).map(|property| {
            device.publish_property(property);
            String::new()
        }),
        "estop" => {
            device.emergency_stop(or_operator(rest), Origin::Operator);
            Ok(String::new())
        }
        "resume" => device
            .emergency_resume(or_operator(rest), Origin::Operator)
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

/// A kind of the device's generation (its catalog's name or a number) and
/// an optional context. The context is published as typed: this is the
/// operator's free-form tool, the one place the 0.12 device does not build
/// its event from a typed context.
fn parse_event(
    generation: Generation,
    arguments: &str,
) -> Result<(EventKind, Option<Value>), String> {
    let (kind, context) = arguments
        .split_once(char::is_whitespace)
        .map_or((arguments, ""), |(k, c)| (k, c.trim()));
    if kind.is_empty() {
        return Err("usage: event <kind name or number> [json context]".into());
    }
    let kind = match generation {
        Generation::V0_9 => kind.parse::<v0_9::ApiEventKind>().map(EventKind::from),
        Generation::V0_12 => kind.parse::<v0_12::ApiEventKind>().map(EventKind::from),
    }
    .map_err(|e| format!("{e}"))?;
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
