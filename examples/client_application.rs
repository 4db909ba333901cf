//! A stand-in acquisition app that embeds the auto-trainer API service.
//!
//! It plays the device: answers the protocol's commands with a small state
//! machine (idle, acquiring, emergency-stopped), publishes events, results
//! and heartbeats, and gives the operator a prompt to publish events by hand.
//! Start it in one terminal:
//!
//! ```text
//! cargo run --example client_application
//! cargo run --example client_application -- --bind 127.0.0.1 --heartbeat-interval 0.5
//! ```
//!
//! and command it from another, with the operator console:
//!
//! ```text
//! cargo run --example remote_console
//! ```
//!
//! Flags (`--help` lists them): `--identifier`, `--pub-port`, `--cmd-port`,
//! `--bind` (repeatable), `--heartbeat-interval` and `--start-delay` (seconds,
//! fractions allowed) and `--log-level` (a level or a tracing filter such as
//! `info,auto_trainer_api=debug`). Defaults are the protocol's.
//!
//! ## Commands
//!
//! | command | answer |
//! |---|---|
//! | `NONE` | SUCCESS |
//! | `GET_STATUS` | SUCCESS, a `StatusResponse` (app status, training mode, animal) |
//! | `GET_CONFIGURATION` | SUCCESS, a `ConfigurationResponse` |
//! | `START_ACQUISITION` | PENDING_WITH_NOTIFICATION; after `--start-delay` a COMMAND_RESULT SUCCESS with `{"acquisitionId", "animalId", "startedAt"}` and an `acquisitionStarted` event. FAILED when acquiring, starting, stopping or emergency-stopped |
//! | `STOP_ACQUISITION` | the same with `acquisitionEnded`; FAILED when not acquiring |
//! | `EMERGENCY_STOP` | SUCCESS and an `emergencyStop` event with `{"reason"}` (data `{"reason": ...}` is optional) |
//! | `EMERGENCY_RESUME` | SUCCESS and an `emergencyResume` event with `{"reason", "stoppedForSeconds"}` when emergency-stopped; FAILED otherwise |
//! | anything else | UNRECOGNIZED |
//!
//! An emergency stop wins over everything: a start or stop in progress gets a
//! FAILED result ("interrupted by an emergency stop"), a running acquisition
//! ends with an `acquisitionEnded` event whose reason is the emergency stop,
//! and nothing starts again until `EMERGENCY_RESUME`.
//!
//! Error codes of FAILED results (the `Refusal` enum): 1 already acquiring,
//! 2 a start is in progress, 3 a stop is in progress, 4 not acquiring,
//! 5 emergency-stopped, 6 not emergency-stopped, 7 interrupted by an
//! emergency stop; -1 (the library's) when the service stopped first.
//!
//! ## The prompt
//!
//! With a terminal it offers a prompt with history and tab completion:
//! `help`, `event <kind name or number> [json context]`, `property <json>`,
//! `estop [reason]`, `resume [reason]`, `state`, `pending`, `stats`, `quit`.
//! Every command received and every message published is logged on one
//! line, above the prompt; JSON is shown as the app sees it (snake_case
//! keys), while on the wire keys are camelCase.
//!
//! ## Running without a terminal
//!
//! When stdin is not a terminal (a service manager, a pipe, `< /dev/null`)
//! there is no prompt: it serves until SIGINT or SIGTERM. Either signal, Ctrl-C
//! or Ctrl-D at the prompt, or `quit`, stops the service cleanly (commands
//! still pending get their FAILED result, queued messages are flushed) and
//! exits 0. A port already in use ends it at once with exit code 1.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use auto_trainer_api::{
    ApiAppStatus, ApiCommand, ApiCommandRequest, ApiCommandRequestResponse, ApiEvent, ApiEventKind,
    ApiTopic, CompletionHandle, ConfigurationResponse, Error, RequestContext, RpcOptions,
    RpcService, StatusResponse, ZeroMqRpcService, DEFAULT_COMMAND_PORT, DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_IDENTIFIER, DEFAULT_SUBSCRIBER_PORT,
};
use clap::Parser;
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Editor, ExternalPrinter, Helper};
use serde_json::{json, Value};
use tracing::{info, warn};
use uuid::Uuid;

fn epoch_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

/// A stand-in acquisition app serving the auto-trainer API over ZeroMQ.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Device identifier sent in every heartbeat.
    #[arg(long, default_value = DEFAULT_IDENTIFIER)]
    identifier: String,

    /// TCP port of the PUB socket (events, heartbeats, results).
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_SUBSCRIBER_PORT)]
    pub_port: u16,

    /// TCP port of the REP socket (commands).
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_COMMAND_PORT)]
    cmd_port: u16,

    /// Interface to bind, as an IP address; repeat for several.
    /// [default: every IPv4 interface]
    #[arg(long = "bind", value_name = "ADDRESS")]
    bind: Vec<String>,

    /// Time between heartbeats.
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(DEFAULT_HEARTBEAT_INTERVAL))]
    heartbeat_interval: Seconds,

    /// How long starting (or stopping) an acquisition takes.
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(Duration::from_secs(1)))]
    start_delay: Seconds,

    /// Log filter: error, warn, info, debug, trace, or tracing directives.
    #[arg(long, value_name = "FILTER", default_value = "info")]
    log_level: String,
}

impl Args {
    fn rpc_options(&self) -> RpcOptions {
        let mut rpc = RpcOptions::default();
        rpc.identifier = self.identifier.clone();
        rpc.subscriber_port = self.pub_port;
        rpc.command_port = self.cmd_port;
        rpc.heartbeat_interval = self.heartbeat_interval.0;
        if !self.bind.is_empty() {
            rpc.bind_addresses = self.bind.clone();
        }
        rpc
    }
}

/// A duration given on the command line in seconds, such as `5` or `0.2`.
#[derive(Debug, Clone, Copy)]
struct Seconds(Duration);

impl std::str::FromStr for Seconds {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let seconds: f64 = text
            .parse()
            .map_err(|_| format!("'{text}' is not a number of seconds"))?;
        Duration::try_from_secs_f64(seconds)
            .map(Seconds)
            .map_err(|_| format!("'{text}' is not a valid duration (negative or too large)"))
    }
}

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

// ---------------------------------------------------------------------------
// The device: state machine and command handling
// ---------------------------------------------------------------------------

/// Why a command was refused; the discriminant is the FAILED result's error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    AlreadyAcquiring = 1,
    StartInProgress = 2,
    StopInProgress = 3,
    NotAcquiring = 4,
    EmergencyStopped = 5,
    NotEmergencyStopped = 6,
    InterruptedByEmergencyStop = 7,
}

impl Refusal {
    fn message(self) -> &'static str {
        match self {
            Refusal::AlreadyAcquiring => "an acquisition is already running",
            Refusal::StartInProgress => "an acquisition is starting; wait for its result",
            Refusal::StopInProgress => "the acquisition is stopping; wait for its result",
            Refusal::NotAcquiring => "not acquiring",
            Refusal::EmergencyStopped => {
                "the device is emergency-stopped; send EMERGENCY_RESUME first"
            }
            Refusal::NotEmergencyStopped => "the device is not emergency-stopped",
            Refusal::InterruptedByEmergencyStop => "interrupted by an emergency stop",
        }
    }

    fn response(self) -> ApiCommandRequestResponse {
        ApiCommandRequestResponse::failed(self as i64, self.message())
    }
}

/// One acquisition, from its start to its end.
#[derive(Debug, Clone)]
struct Acquisition {
    id: Uuid,
    animal_id: String,
    started_at: f64,
    started: Instant,
}

impl Acquisition {
    fn begin(animal_id: String) -> Self {
        Self {
            id: Uuid::new_v4(),
            animal_id,
            started_at: epoch_seconds(),
            started: Instant::now(),
        }
    }

    /// The result data and event context naming this acquisition.
    fn summary(&self) -> Value {
        json!({
            "acquisition_id": self.id,
            "animal_id": self.animal_id,
            "started_at": self.started_at,
        })
    }

    fn ended_summary(&self, reason: &str) -> Value {
        let mut summary = self.summary();
        summary["ended_at"] = json!(epoch_seconds());
        summary["duration_seconds"] = json!(self.started.elapsed().as_secs_f64());
        summary["reason"] = json!(reason);
        summary
    }
}

/// A start or stop accepted as pending, completed by a timer.
struct Transition {
    ticket: u64,
    done: CompletionHandle,
}

/// What the device is doing.
enum State {
    Idle,
    Starting {
        animal_id: String,
        transition: Transition,
    },
    Acquiring(Acquisition),
    Stopping {
        acquisition: Acquisition,
        transition: Transition,
    },
    EmergencyStopped {
        reason: String,
        since: Instant,
    },
}

impl State {
    fn refuse_start(&self) -> Option<Refusal> {
        match self {
            State::Idle => None,
            State::Starting { .. } => Some(Refusal::StartInProgress),
            State::Acquiring(_) => Some(Refusal::AlreadyAcquiring),
            State::Stopping { .. } => Some(Refusal::StopInProgress),
            State::EmergencyStopped { .. } => Some(Refusal::EmergencyStopped),
        }
    }

    fn acquisition(&self) -> Option<&Acquisition> {
        match self {
            State::Acquiring(acquisition) | State::Stopping { acquisition, .. } => {
                Some(acquisition)
            }
            _ => None,
        }
    }

    fn describe(&self) -> String {
        let for_seconds = |since: Instant| format!("{:.1} s", since.elapsed().as_secs_f64());
        match self {
            State::Idle => "idle".into(),
            State::Starting {
                animal_id,
                transition,
            } => format!(
                "starting an acquisition (animal '{animal_id}', START nonce {})",
                transition.done.nonce()
            ),
            State::Acquiring(a) => format!(
                "acquiring {} (animal '{}') for {}",
                a.id,
                a.animal_id,
                for_seconds(a.started)
            ),
            State::Stopping {
                acquisition,
                transition,
            } => format!(
                "stopping acquisition {} (STOP nonce {})",
                acquisition.id,
                transition.done.nonce()
            ),
            State::EmergencyStopped { reason, since } => {
                format!(
                    "emergency-stopped for {} (reason: {reason})",
                    for_seconds(*since)
                )
            }
        }
    }
}

/// The stand-in device: owns the service and the state machine. Commands
/// from the network and from the prompt go through the same methods.
struct Device {
    service: ZeroMqRpcService,
    state: Mutex<State>,
    transition_delay: Duration,
    next_ticket: AtomicU64,
}

impl Device {
    /// Starts the service with `args`' options and registers the command handler.
    fn start(args: &Args) -> Result<Arc<Self>, Error> {
        let device = Arc::new(Device {
            service: ZeroMqRpcService::new(args.rpc_options()),
            state: Mutex::new(State::Idle),
            transition_delay: args.start_delay.0,
            next_ticket: AtomicU64::new(0),
        });
        // A weak reference: the service owns the handler, so a strong one
        // would keep the device (and the service) alive forever.
        let handler = Arc::downgrade(&device);
        device.service.set_delegate(
            move |request: ApiCommandRequest, context: &RequestContext| match Weak::upgrade(
                &handler,
            ) {
                Some(device) => device.answer(&request, context),
                None => ApiCommandRequestResponse::new(
                    auto_trainer_api::ApiCommandRequestResult::Unavailable,
                ),
            },
        );
        device.service.start()?;
        device.publish_event(ApiEventKind::ApplicationLaunched, None);
        Ok(device)
    }

    /// Stops serving: pending commands get their FAILED result, queued
    /// messages are flushed.
    fn shutdown(&self) {
        self.publish_event(ApiEventKind::ApplicationTerminating, None);
        self.service.stop();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The command handler: answers at once and logs one line per command.
    fn answer(
        self: &Arc<Self>,
        request: &ApiCommandRequest,
        context: &RequestContext,
    ) -> ApiCommandRequestResponse {
        let response = match request.command {
            ApiCommand::None => ApiCommandRequestResponse::success(),
            ApiCommand::GetStatus => ApiCommandRequestResponse::success().with_data(&self.status()),
            ApiCommand::GetConfiguration => {
                ApiCommandRequestResponse::success().with_data(&self.configuration())
            }
            ApiCommand::StartAcquisition => self.start_acquisition(context, request),
            ApiCommand::StopAcquisition => self.stop_acquisition(context),
            ApiCommand::EmergencyStop => {
                self.emergency_stop(&reason(request, "EMERGENCY_STOP command"));
                ApiCommandRequestResponse::success()
            }
            ApiCommand::EmergencyResume => {
                match self.emergency_resume(&reason(request, "EMERGENCY_RESUME command")) {
                    Ok(()) => ApiCommandRequestResponse::success(),
                    Err(refusal) => refusal.response(),
                }
            }
            ApiCommand::UserDefined | ApiCommand::Unknown(_) => {
                ApiCommandRequestResponse::unrecognized()
            }
        };
        let data = request
            .data
            .as_ref()
            .map(|d| format!(" data={d}"))
            .unwrap_or_default();
        info!(
            "command {} nonce={}{data} -> {}",
            request.command,
            request.nonce,
            describe_response(&response)
        );
        response
    }

    fn status(&self) -> StatusResponse {
        let state = self.lock();
        StatusResponse {
            app_status: match *state {
                State::Acquiring(_) | State::Stopping { .. } => ApiAppStatus::Acquiring,
                _ => ApiAppStatus::Idle,
            },
            training_mode: auto_trainer_api::ApiTrainingMode::Manual,
            animal_id: state
                .acquisition()
                .map(|a| a.animal_id.clone())
                .unwrap_or_default(),
        }
    }

    fn configuration(&self) -> ConfigurationResponse {
        let base = std::env::temp_dir().join("client_application");
        let location = |name: &str| base.join(name).display().to_string();
        ConfigurationResponse {
            application_version: env!("CARGO_PKG_VERSION").to_owned(),
            device_id: self.service.identifier().to_owned(),
            configuration_location: location("configuration"),
            data_location: location("data"),
            animal_location: location("animals"),
            log_location: location("logs"),
            inference_model: "stand-in (no model)".to_owned(),
        }
    }

    fn start_acquisition(
        self: &Arc<Self>,
        context: &RequestContext,
        request: &ApiCommandRequest,
    ) -> ApiCommandRequestResponse {
        let mut state = self.lock();
        if let Some(refusal) = state.refuse_start() {
            return refusal.response();
        }
        *state = State::Starting {
            animal_id: data_text(request, "animal_id").unwrap_or_default(),
            transition: self.schedule(context, Device::finish_start),
        };
        ApiCommandRequestResponse::pending_with_notification()
    }

    fn stop_acquisition(self: &Arc<Self>, context: &RequestContext) -> ApiCommandRequestResponse {
        let mut state = self.lock();
        let refusal = match &*state {
            State::Acquiring(_) => None,
            State::Starting { .. } => Some(Refusal::StartInProgress),
            State::Stopping { .. } => Some(Refusal::StopInProgress),
            State::Idle | State::EmergencyStopped { .. } => Some(Refusal::NotAcquiring),
        };
        if let Some(refusal) = refusal {
            return refusal.response();
        }
        if let State::Acquiring(acquisition) = std::mem::replace(&mut *state, State::Idle) {
            *state = State::Stopping {
                acquisition,
                transition: self.schedule(context, Device::finish_stop),
            };
        }
        ApiCommandRequestResponse::pending_with_notification()
    }

    /// Accepts `request` as pending and runs `finish` after the transition
    /// delay (standing in for the hardware). The ticket lets `finish` tell
    /// whether its transition is still the current one.
    fn schedule(
        self: &Arc<Self>,
        context: &RequestContext,
        finish: fn(&Device, u64),
    ) -> Transition {
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        let device = Arc::downgrade(self);
        let delay = self.transition_delay;
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            if let Some(device) = device.upgrade() {
                finish(&device, ticket);
            }
        });
        Transition {
            ticket,
            done: context.accept_pending(),
        }
    }

    fn finish_start(&self, ticket: u64) {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Idle) {
            State::Starting {
                animal_id,
                transition,
            } if transition.ticket == ticket => {
                let acquisition = Acquisition::begin(animal_id);
                let summary = acquisition.summary();
                self.complete(
                    &transition.done,
                    ApiCommandRequestResponse::success().with_data(&summary),
                );
                self.publish_event(ApiEventKind::AcquisitionStarted, Some(summary));
                *state = State::Acquiring(acquisition);
            }
            // Superseded, for instance by an emergency stop.
            other => *state = other,
        }
    }

    fn finish_stop(&self, ticket: u64) {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Idle) {
            State::Stopping {
                acquisition,
                transition,
            } if transition.ticket == ticket => {
                let summary = acquisition.ended_summary("STOP_ACQUISITION");
                self.complete(
                    &transition.done,
                    ApiCommandRequestResponse::success().with_data(&summary),
                );
                self.publish_event(ApiEventKind::AcquisitionEnded, Some(summary));
            }
            other => *state = other,
        }
    }

    /// Emergency stop: wins over everything (see the header).
    fn emergency_stop(&self, reason: &str) {
        let mut state = self.lock();
        let previous = std::mem::replace(
            &mut *state,
            State::EmergencyStopped {
                reason: reason.to_owned(),
                since: Instant::now(),
            },
        );
        self.publish_event(
            ApiEventKind::EmergencyStop,
            Some(json!({ "reason": reason })),
        );
        let (interrupted, acquisition) = match previous {
            State::Starting { transition, .. } => (Some(transition), None),
            State::Acquiring(acquisition) => (None, Some(acquisition)),
            State::Stopping {
                acquisition,
                transition,
            } => (Some(transition), Some(acquisition)),
            State::Idle | State::EmergencyStopped { .. } => (None, None),
        };
        if let Some(transition) = interrupted {
            self.complete(
                &transition.done,
                Refusal::InterruptedByEmergencyStop.response(),
            );
        }
        if let Some(acquisition) = acquisition {
            let reason = format!("emergency stop: {reason}");
            self.publish_event(
                ApiEventKind::AcquisitionEnded,
                Some(acquisition.ended_summary(&reason)),
            );
        }
    }

    fn emergency_resume(&self, reason: &str) -> Result<(), Refusal> {
        let mut state = self.lock();
        let State::EmergencyStopped { since, .. } = &*state else {
            return Err(Refusal::NotEmergencyStopped);
        };
        let stopped_for = since.elapsed().as_secs_f64();
        *state = State::Idle;
        self.publish_event(
            ApiEventKind::EmergencyResume,
            Some(json!({ "reason": reason, "stopped_for_seconds": stopped_for })),
        );
        Ok(())
    }

    // Publishing, with one log line per message.

    fn publish_event(&self, kind: ApiEventKind, context: Option<Value>) {
        let shown = context
            .as_ref()
            .map(|c| format!(" {c}"))
            .unwrap_or_default();
        let topics = if kind.is_emergency() {
            "EMERGENCY+EVENT"
        } else {
            "EVENT"
        };
        match self.service.publish_event(ApiEvent::new(kind, context)) {
            Ok(()) => info!("published {topics} {kind}{shown}"),
            Err(error) => warn!("cannot publish {topics} {kind}: {error}"),
        }
    }

    fn publish_property(&self, property: Value) {
        match self
            .service
            .publish_json(ApiTopic::PropertyChange, property.clone())
        {
            Ok(()) => info!("published PROPERTY_CHANGE {property}"),
            Err(error) => warn!("cannot publish PROPERTY_CHANGE: {error}"),
        }
    }

    fn complete(&self, done: &CompletionHandle, response: ApiCommandRequestResponse) {
        let shown = describe_response(&response);
        match done.complete(response) {
            Ok(()) => info!(
                "published COMMAND_RESULT {} nonce={} {shown}",
                done.command(),
                done.nonce()
            ),
            Err(error) => warn!(
                "cannot complete {} nonce={}: {error}",
                done.command(),
                done.nonce()
            ),
        }
    }
}

/// A text field of the request's data (keys arrive in snake_case).
fn data_text(request: &ApiCommandRequest, key: &str) -> Option<String> {
    request.data.as_ref()?.get(key)?.as_str().map(str::to_owned)
}

/// The `reason` of the request's data, or `default`.
fn reason(request: &ApiCommandRequest, default: &str) -> String {
    data_text(request, "reason").unwrap_or_else(|| default.to_owned())
}

/// A response on one line: result, error and data.
fn describe_response(response: &ApiCommandRequestResponse) -> String {
    let mut text = response.result.to_string();
    if response.error_code != 0 || response.error_message.is_some() {
        let message = response.error_message.as_deref().unwrap_or("");
        text += &format!(" (error {}: {message})", response.error_code);
    }
    if let Some(data) = &response.data {
        text += &format!(" {data}");
    }
    text
}

// ---------------------------------------------------------------------------
// The operator prompt
// ---------------------------------------------------------------------------

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

/// Whether the prompt goes on after a line.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

/// Runs one prompt line; what it prints goes to stdout.
fn run_line(device: &Device, line: &str) -> Flow {
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
        "state" => Ok(format!("state: {}", device.lock().describe())),
        "pending" => Ok(pending_text(&device.service)),
        "stats" => Ok(stats_text(&device.service)),
        "quit" | "exit" => return Flow::Quit,
        other => Err(format!("unknown command '{other}'; type 'help'")),
    };
    match outcome {
        Ok(text) if text.is_empty() => {}
        Ok(text) => println!("{text}"),
        Err(message) => println!("error: {message}"),
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

fn pending_text(service: &ZeroMqRpcService) -> String {
    let pending = service.pending_commands();
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

fn stats_text(service: &ZeroMqRpcService) -> String {
    let s = service.stats();
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

/// Tab completion: command names, then event kind names after `event`.
struct PromptHelper;

impl Completer for PromptHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = &line[..pos];
        let matching = |names: &mut dyn Iterator<Item = &str>, typed: &str| {
            let typed = typed.to_ascii_lowercase();
            names
                .filter(|name| name.to_ascii_lowercase().starts_with(&typed))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        Ok(match before.split_once(' ') {
            None => (
                0,
                matching(&mut PROMPT_COMMANDS.iter().map(|c| c.0), before),
            ),
            Some(("event", kind)) if !kind.contains(' ') => (
                pos - kind.len(),
                matching(&mut ApiEventKind::ALL.iter().filter_map(|k| k.name()), kind),
            ),
            Some(_) => (pos, Vec::new()),
        })
    }
}

impl Hinter for PromptHelper {
    type Hint = String;
}
impl Highlighter for PromptHelper {}
impl Validator for PromptHelper {}
impl Helper for PromptHelper {}

/// Reads prompt lines until `quit`, Ctrl-C or Ctrl-D. While it runs, log
/// lines go through rustyline's printer so they do not break the line being typed.
fn run_prompt(device: &Device, console: &Console) -> rustyline::Result<()> {
    let mut editor: Editor<PromptHelper, DefaultHistory> = Editor::new()?;
    editor.set_helper(Some(PromptHelper));
    match editor.create_external_printer() {
        Ok(printer) => console.attach(Box::new(printer)),
        // stdout is not a terminal: logs keep going to stderr.
        Err(error) => warn!("log lines may break the prompt: {error}"),
    }
    println!(
        "{} serving on PUB port {}, command port {}. Type 'help'.",
        device.service.identifier(),
        device.service.subscriber_port(),
        device.service.command_port()
    );
    let outcome = loop {
        match editor.readline("device> ") {
            Ok(line) => {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(line);
                if run_line(device, line) == Flow::Quit {
                    break Ok(());
                }
            }
            Err(ReadlineError::Interrupted | ReadlineError::Eof) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    console.detach();
    outcome
}

// ---------------------------------------------------------------------------
// Logging through the prompt
// ---------------------------------------------------------------------------

/// Where log lines go: rustyline's printer while the prompt runs, else stderr.
#[derive(Clone, Default)]
struct Console {
    printer: Arc<Mutex<Option<Box<dyn ExternalPrinter + Send>>>>,
}

impl Console {
    fn slot(&self) -> MutexGuard<'_, Option<Box<dyn ExternalPrinter + Send>>> {
        self.printer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn attach(&self, printer: Box<dyn ExternalPrinter + Send>) {
        *self.slot() = Some(printer);
    }

    fn detach(&self) {
        self.slot().take();
    }

    fn print(&self, text: String) {
        let mut slot = self.slot();
        let text = match slot.as_mut() {
            Some(printer) => match printer.print(text.clone()) {
                Ok(()) => return,
                Err(_) => text,
            },
            None => text,
        };
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}

/// One log line, handed to the console whole when the logger is done with it.
struct ConsoleLine {
    console: Console,
    buffer: Vec<u8>,
}

impl Write for ConsoleLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ConsoleLine {
    fn drop(&mut self) {
        if !self.buffer.is_empty() {
            self.console
                .print(String::from_utf8_lossy(&self.buffer).into_owned());
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Console {
    type Writer = ConsoleLine;

    fn make_writer(&'a self) -> ConsoleLine {
        ConsoleLine {
            console: self.clone(),
            buffer: Vec::new(),
        }
    }
}

fn init_logging(filter: &str, console: Console) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|error| format!("invalid --log-level '{filter}': {error}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(console)
        .try_init()
        .map_err(|error| error.to_string())
}

// ---------------------------------------------------------------------------
// The terminal
// ---------------------------------------------------------------------------

/// The terminal's settings before the prompt. A signal can end the program
/// while rustyline waits for a key in raw mode, and nothing interrupts that
/// wait, so the settings are put back here rather than by rustyline.
struct TerminalSettings {
    #[cfg(unix)]
    saved: Option<nix::sys::termios::Termios>,
}

impl TerminalSettings {
    fn save() -> Self {
        Self {
            #[cfg(unix)]
            saved: nix::sys::termios::tcgetattr(std::io::stdin()).ok(),
        }
    }

    fn restore(&self) {
        #[cfg(unix)]
        if let Some(saved) = &self.saved {
            use nix::sys::termios::{tcsetattr, SetArg};
            let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, saved);
            println!();
        }
    }
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

/// What ended the program.
enum Shutdown {
    Signal,
    Prompt,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let console = Console::default();
    if let Err(message) = init_logging(&args.log_level, console.clone()) {
        eprintln!("client_application: {message}");
        return ExitCode::from(2);
    }

    // Installed before the service starts, so a signal always stops it cleanly.
    let (shutdown, shutdown_requested) = mpsc::channel();
    let on_signal = shutdown.clone();
    if let Err(error) = ctrlc::set_handler(move || {
        let _ = on_signal.send(Shutdown::Signal);
    }) {
        eprintln!("client_application: cannot handle SIGINT/SIGTERM: {error}");
        return ExitCode::FAILURE;
    }

    let device = match Device::start(&args) {
        Ok(device) => device,
        Err(error) => {
            let hint = if matches!(error, Error::Bind { .. }) {
                " (is another instance running? choose ports with --pub-port and --cmd-port)"
            } else {
                ""
            };
            let mut cause = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(inner) = source {
                cause += &format!(": {inner}");
                source = inner.source();
            }
            eprintln!("client_application: cannot start the API service: {cause}{hint}");
            return ExitCode::FAILURE;
        }
    };

    let interactive = std::io::stdin().is_terminal();
    let terminal = TerminalSettings::save();
    if interactive {
        let device = device.clone();
        let console = console.clone();
        std::thread::spawn(move || {
            if let Err(error) = run_prompt(&device, &console) {
                warn!("the prompt failed: {error}; stopping");
            }
            let _ = shutdown.send(Shutdown::Prompt);
        });
    } else {
        info!("no terminal on stdin: serving until SIGINT or SIGTERM");
    }

    let reason = shutdown_requested.recv().unwrap_or(Shutdown::Signal);
    if interactive && matches!(reason, Shutdown::Signal) {
        console.detach();
        terminal.restore();
    }
    info!("stopping");
    device.shutdown();
    ExitCode::SUCCESS
}
