//! The prompt: commands typed by alias, name or number; published messages
//! and the device's liveness printed above it as they come.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use auto_trainer_api::{
    v0_12, ApiCommandRequestResult, ApiTopic, CommandCall, DeviceMessage, Generation,
};
use serde_json::json;
use tokio::sync::watch;

use crate::args::Args;
use crate::common::prompt::{Flow, Prompt};
use crate::common::text::error_chain;
use crate::format::{refusal_of_error, refusal_of_reply, Report};
use crate::link::Link;
use crate::vocabulary::{
    aliases, all_shown, command_call, command_names, mode_words, parse_data, resolve_all_shown,
    resolve_command, setting_words, shown_kind, shown_name, Shown, TOPIC_WORDS,
};

/// How long the prompt keeps waiting for the result of a pending command.
const RESULT_PATIENCE: Duration = Duration::from_secs(3600);

/// The verbs besides the generation's command aliases.
const VERBS: &[&str] = &[
    "help", "quit", "exit", "send", "custom", "watch", "pending", "device",
];

const HELP: &str = "\
commands (data is optional JSON, e.g. start {\"animal_id\": \"m-001\"}):
  status | config | resume | ping
  estop [reason]            emergency stop, with a reason text or JSON data
  send <command> [json]     any command by name or number (send GET_STATUS, send 400)
  custom <n> [json]         USER_DEFINED with customCommand n
  <command> [json]          a command name or number on its own works too
  watch [all|none|topics]   which messages to show: event emergency property result heartbeat raw
  pending                   commands awaiting their result
  device                    online state, identifier, protocol and counters
  help | quit
names and numbers are those of the device's protocol generation (--protocol, else its heartbeats)
protocol 0.9:  start [json] | stop [json]     START/STOP_ACQUISITION
protocol 0.12: animals                        GET_ANIMALS
  set-mode <mode>           SET_APPLICATION_MODE: idle running in-device in-training calibration-dcs calibration-3d
                            (a run: set-mode running ... set-mode idle)
  set-training-mode <mode>  SET_TRAINING_MODE: undefined manual manual-with-protocol automatic
  enable <setting>          SET_<SETTING>_ENABLED {\"enabled\": true}; disable <setting> for false; settings:
                            live-analysis pellet-delivery pellet-cover intertrial-pellet-shift
                            home-on-excessive-drift triangle-pellet-distance-detection
                            auto-close-gate-on-intertrial auto-clamp tunnel-sweep batch-trials
  start | stop              the obsolete START/STOP_ACQUISITION (50, 55), with a warning";

/// Tab completion for the generation in effect (0.9 until one is known):
/// verbs, aliases and command names first, command names after `send`,
/// modes after `set-mode`, settings after `enable`, topic words after
/// `watch`.
fn candidates(generation: Option<Generation>, before: &[&str]) -> Vec<String> {
    let generation = generation.unwrap_or_default();
    let commands = || {
        aliases(generation)
            .into_iter()
            .map(|(a, _)| a.to_owned())
            .chain(command_names(generation))
    };
    let extra: &[&str] = match generation {
        Generation::V0_9 => &[],
        Generation::V0_12 => &["enable", "disable"],
    };
    match before {
        [] => VERBS
            .iter()
            .chain(extra)
            .map(|v| (*v).to_owned())
            .chain(commands())
            .collect(),
        ["send"] => commands().collect(),
        ["set-mode"] => mode_words(v0_12::ApiCommand::SetApplicationMode),
        ["set-training-mode"] => mode_words(v0_12::ApiCommand::SetTrainingMode),
        ["enable" | "disable"] => setting_words(),
        ["watch", ..] => ["all", "none", "raw"]
            .into_iter()
            .chain(TOPIC_WORDS.iter().map(|(n, _)| *n))
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// State shared by the prompt and the tasks printing in the background.
#[derive(Clone)]
struct Session {
    link: Link,
    report: Report,
    shown: Arc<Mutex<BTreeSet<Shown>>>,
    /// Nonces of this console's pending commands (their results are printed
    /// by the task awaiting them) and of results already printed.
    mine: Arc<Mutex<HashSet<i64>>>,
    printed: Arc<Mutex<HashSet<i64>>>,
    /// To wait for the device's generation from the prompt's thread.
    runtime: tokio::runtime::Handle,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Session {
    /// The generation commands are named in; waits (up to the command
    /// timeout) for the first heartbeat when it is not known yet.
    fn generation(&self) -> Generation {
        let patience = self.link.timeout();
        let (generation, fallback) = self
            .runtime
            .block_on(self.link.command_generation(patience));
        if let Some(warning) = fallback {
            self.report.line(format!("warning: {warning}"));
        }
        generation
    }

    /// A call of `word` with `argument`, named in the device's generation;
    /// warnings are shown.
    fn call(&self, word: &str, argument: &str) -> Result<Action, String> {
        let (call, warnings) = command_call(self.generation(), word, optional(argument))?;
        for warning in warnings {
            self.report.line(format!("warning: {warning}"));
        }
        Ok(Action::Call(call))
    }

    fn print_message(&self, message: &DeviceMessage) {
        if let DeviceMessage::CommandResult(result) = message {
            if locked(&self.mine).contains(&result.nonce)
                || !locked(&self.printed).insert(result.nonce)
            {
                return;
            }
        }
        if locked(&self.shown).contains(&shown_kind(message)) {
            self.report.message(message);
        }
    }

    /// Prints the result of one of this console's pending commands when it arrives.
    async fn follow(self, nonce: i64) {
        match self.link.wait_for_result(nonce, RESULT_PATIENCE).await {
            Ok(result) => {
                if locked(&self.printed).insert(nonce) {
                    self.report.result(&result);
                }
            }
            Err(error) => self
                .report
                .error(format!("nonce {nonce}: {}", error_chain(&error))),
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
    // Aliases that mean the same number in every generation.
    let common = |alias: &str| {
        resolve_command(session.generation(), alias).ok_or_else(|| format!("no '{alias}' alias"))
    };
    match verb.to_ascii_lowercase().as_str() {
        "quit" | "exit" => Ok(Action::Quit),
        "help" | "?" => {
            session.report.line(HELP);
            Ok(Action::Done)
        }
        "estop" => {
            let data = if rest.starts_with('{') {
                parse_data(Some(rest))?
            } else {
                optional(rest).map(|reason| json!({ "reason": reason }))
            };
            Ok(Action::Call(
                CommandCall::new(common("estop")?).maybe_data(data),
            ))
        }
        "send" => {
            let (name, data) = split_word(rest);
            session.call(name, data)
        }
        "custom" => {
            let (number, data) = split_word(rest);
            let custom: i64 = number
                .parse()
                .map_err(|_| format!("custom needs a number, got '{number}'"))?;
            Ok(Action::Call(
                CommandCall::new(common("custom")?)
                    .custom_command(custom)
                    .maybe_data(parse_data(optional(data))?),
            ))
        }
        "watch" => {
            watch_topics(session, rest)?;
            Ok(Action::Done)
        }
        "pending" => {
            show_awaited(session);
            Ok(Action::Done)
        }
        "device" => {
            show_device(session);
            Ok(Action::Done)
        }
        _ => session
            .call(verb, rest)
            .map_err(|message| format!("{message}; type 'help'")),
    }
}

fn watch_topics(session: &Session, words: &str) -> Result<(), String> {
    let mut shown = locked(&session.shown);
    match words.trim().to_ascii_lowercase().as_str() {
        "" => {}
        "all" => *shown = all_shown(),
        "none" => shown.clear(),
        _ => *shown = resolve_all_shown(words.split_whitespace())?,
    }
    let names: Vec<String> = shown.iter().map(|s| shown_name(*s)).collect();
    session.report.line(format!(
        "watching: {}",
        if names.is_empty() {
            "nothing".to_owned()
        } else {
            names.join(" ")
        }
    ));
    Ok(())
}

fn show_awaited(session: &Session) {
    let awaited = session.link.awaited_commands();
    if awaited.is_empty() {
        session.report.line("no command is awaiting its result");
    }
    for command in awaited {
        let age = command.since.elapsed().unwrap_or_default().as_secs_f64();
        session.report.show(
            format!("pending: {} (nonce {}), {age:.1} s", command.command, command.nonce),
            || json!({"type": "pending", "nonce": command.nonce, "command": command.command.value(), "seconds": age}),
        );
    }
}

fn show_device(session: &Session) {
    let link = &session.link;
    session
        .report
        .presence(&link.presence().current(), link.name(), true);
    let (text, value) = link.counters();
    session.report.show(text, || value);
}

/// Runs the prompt until `quit`, Ctrl-D, Ctrl-C or `interrupted`; returns
/// the exit code.
pub fn run(
    args: &Args,
    runtime: &tokio::runtime::Runtime,
    link: Link,
    report: Report,
    mut interrupted: watch::Receiver<bool>,
) -> u8 {
    let completing = link.clone();
    let complete = move |before: &[&str]| candidates(completing.generation(), before);
    let mut prompt = match Prompt::open(&report.output, args.history.clone(), complete) {
        Ok(prompt) => prompt,
        Err(error) => {
            eprintln!("remote_console: cannot open the prompt: {error}");
            return 1;
        }
    };

    let mut shown = all_shown();
    shown.remove(&Shown::Topic(ApiTopic::Heartbeat.value()));
    let session = Session {
        link: link.clone(),
        report: report.clone(),
        shown: Arc::new(Mutex::new(shown)),
        mine: Arc::default(),
        printed: Arc::default(),
        runtime: runtime.handle().clone(),
    };

    report.line(format!(
        "remote console for {}; type 'help'",
        link.describe()
    ));
    let printer = session.clone();
    match runtime.block_on(link.subscribe()) {
        Ok(mut messages) => {
            runtime.spawn(async move {
                while let Some(message) = messages.recv().await {
                    printer.print_message(&message);
                }
            });
        }
        Err(error) => report.error(format!("no messages will show: {}", error_chain(&error))),
    }
    let mut presence = link.presence();
    let name = link.name().to_owned();
    let watcher = report.clone();
    runtime.spawn(async move {
        while presence.changed().await {
            watcher.presence(&presence.current(), &name, false);
        }
    });

    let outcome = prompt.run("> ", |line| {
        let call = match interpret(&session, line) {
            Ok(Action::Call(call)) => call,
            Ok(Action::Done) => return Flow::Continue,
            Ok(Action::Quit) => return Flow::Quit,
            Err(message) => {
                report.error(message);
                return Flow::Continue;
            }
        };
        let outcome = runtime.block_on(async {
            tokio::select! {
                outcome = link.send(call) => Some(outcome),
                _ = interrupted.wait_for(|i| *i) => None,
            }
        });
        match outcome {
            None => return Flow::Quit,
            Some(Err(error)) => match refusal_of_error(&error) {
                Some((code, message)) => report.refused(code, &message),
                None => report.error(error_chain(&error)),
            },
            Some(Ok(answer)) => {
                let reply = answer.reply;
                report.reply(&reply);
                if let Some((code, message)) = refusal_of_reply(&reply) {
                    report.refused(code, &message);
                }
                if reply.result == ApiCommandRequestResult::PendingWithNotification {
                    locked(&session.mine).insert(reply.nonce);
                    report.show(
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
        Flow::Continue
    });
    if let Err(error) = outcome {
        report.error(format!("prompt: {error}"));
    }
    0
}
