//! The stand-in device: the state machine behind the protocol's commands.
//! Commands from the network and from the prompt go through the same
//! methods; every command and every message published is logged on one line.
//!
//! The state machine (idle, starting, running, stopping, emergency-stopped)
//! is the same in both protocol generations. What differs is how commands
//! reach it and what it says: this file answers 0.9.11 commands and words
//! its announcements in 0.9.11 events; `device_v0_12.rs` does the same for
//! 0.12 (see [`Announcement`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use auto_trainer_api::v0_12::ApiApplicationMode;
use auto_trainer_api::{
    ApiAppStatus, ApiCommand, ApiCommandRequest, ApiCommandRequestResponse, ApiEvent, ApiEventKind,
    ApiTopic, ApiTrainingMode, CompletionHandle, ConfigurationResponse, Generation, PendingCommand,
    Publisher, RequestContext, ServiceStats, StatusResponse, WireCode,
};
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::common::text::{error_chain, json_text, response_text};
use crate::device_v0_12::{mode_data, Setup};
use crate::state::{Acquisition, Refusal, State, Transition};
use crate::timer::Timer;

/// Who asked for an emergency stop or resume: a command from the network,
/// or the operator at this app's prompt (the app's own button).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Command,
    Operator,
}

/// Something the device tells its subscribers, before it is worded as an
/// event of its generation ([`Device::announce`]).
pub enum Announcement<'a> {
    Launched,
    Terminating(&'a str),
    /// A run (0.9.11: an acquisition) started.
    RunStarted(&'a Acquisition),
    /// A run ended, for `reason`.
    RunEnded(&'a Acquisition, &'a str),
    EmergencyStop(&'a str, Origin),
    EmergencyResume {
        reason: &'a str,
        origin: Origin,
        stopped_for_seconds: f64,
    },
}

/// The device publishes through a [`Publisher`]; the service (owned by
/// `main`) holds the device only through its command handler.
pub struct Device {
    publisher: Publisher,
    identifier: String,
    generation: Generation,
    state: Mutex<State>,
    /// The 0.12 settings (modes at rest, behaviour switches); locked after
    /// `state` when both are.
    setup: Mutex<Setup>,
    transition_delay: Duration,
    next_ticket: AtomicU64,
    timer: Timer,
}

impl Device {
    /// An idle device of `generation` whose starts and stops take
    /// `transition_delay`.
    ///
    /// # Errors
    /// When its timer thread cannot start.
    pub fn new(
        publisher: Publisher,
        identifier: String,
        generation: Generation,
        transition_delay: Duration,
    ) -> std::io::Result<Self> {
        Ok(Device {
            publisher,
            identifier,
            generation,
            state: Mutex::new(State::Idle),
            setup: Mutex::new(Setup::default()),
            transition_delay,
            next_ticket: AtomicU64::new(0),
            timer: Timer::start()?,
        })
    }

    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    pub fn generation(&self) -> Generation {
        self.generation
    }

    pub fn pending_commands(&self) -> Vec<PendingCommand> {
        self.publisher.pending_commands()
    }

    pub fn stats(&self) -> ServiceStats {
        self.publisher.stats()
    }

    /// What the device is doing, in words.
    pub fn describe(&self) -> String {
        self.lock().describe()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn setup(&self) -> MutexGuard<'_, Setup> {
        self.setup.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The 0.9.11 command handler: answers at once and logs one line per command.
    pub fn answer(
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
            ApiCommand::StartAcquisition => self
                .begin_start(data_text(request, "animal_id").unwrap_or_default(), context)
                .map_or_else(Refusal::response, |()| {
                    ApiCommandRequestResponse::pending_with_notification()
                }),
            ApiCommand::StopAcquisition => self
                .begin_stop(context)
                .map_or_else(Refusal::response, |()| {
                    ApiCommandRequestResponse::pending_with_notification()
                }),
            ApiCommand::EmergencyStop => {
                self.emergency_stop(&reason(request, "EMERGENCY_STOP command"), Origin::Command);
                ApiCommandRequestResponse::success()
            }
            ApiCommand::EmergencyResume => match self.emergency_resume(
                &reason(request, "EMERGENCY_RESUME command"),
                Origin::Command,
            ) {
                Ok(()) => ApiCommandRequestResponse::success(),
                Err(refusal) => refusal.response(),
            },
            ApiCommand::UserDefined | ApiCommand::Unknown(_) => {
                ApiCommandRequestResponse::unrecognized()
            }
        };
        log_command(request, &response);
        response
    }

    fn status(&self) -> StatusResponse {
        let state = self.lock();
        StatusResponse {
            app_status: match *state {
                State::Acquiring(_) | State::Stopping { .. } => ApiAppStatus::Acquiring,
                _ => ApiAppStatus::Idle,
            },
            training_mode: ApiTrainingMode::Manual,
            animal_id: state
                .acquisition()
                .map(|a| a.animal_id.clone())
                .unwrap_or_default(),
        }
    }

    pub(crate) fn configuration(&self) -> ConfigurationResponse {
        let base = std::env::temp_dir().join("client_application");
        let location = |name: &str| base.join(name).display().to_string();
        ConfigurationResponse {
            application_version: env!("CARGO_PKG_VERSION").to_owned(),
            device_id: self.identifier().to_owned(),
            configuration_location: location("configuration"),
            data_location: location("data"),
            animal_location: location("animals"),
            log_location: location("logs"),
            inference_model: "stand-in (no model)".to_owned(),
        }
    }

    /// Starts a run (0.9.11: START_ACQUISITION; 0.12: SET_APPLICATION_MODE
    /// RUNNING) as a pending command; its result comes after the delay.
    pub(crate) fn begin_start(
        self: &Arc<Self>,
        animal_id: String,
        context: &RequestContext,
    ) -> Result<(), Refusal> {
        let mut state = self.lock();
        if let Some(refusal) = state.refuse_start() {
            return Err(refusal);
        }
        *state = State::Starting {
            animal_id,
            transition: self.schedule(context, Device::finish_start),
        };
        Ok(())
    }

    /// Stops the run (0.9.11: STOP_ACQUISITION; 0.12: SET_APPLICATION_MODE
    /// IDLE while running) as a pending command.
    pub(crate) fn begin_stop(self: &Arc<Self>, context: &RequestContext) -> Result<(), Refusal> {
        let mut state = self.lock();
        if let Some(refusal) = state.refuse_stop() {
            return Err(refusal);
        }
        if let State::Acquiring(acquisition) = std::mem::replace(&mut *state, State::Idle) {
            *state = State::Stopping {
                acquisition,
                transition: self.schedule(context, Device::finish_stop),
            };
        }
        Ok(())
    }

    /// Accepts the request as pending and runs `finish` after the transition
    /// delay (standing in for the hardware). The ticket lets `finish` tell
    /// whether its transition is still the current one.
    fn schedule(
        self: &Arc<Self>,
        context: &RequestContext,
        finish: fn(&Device, u64),
    ) -> Transition {
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        // Weak: a transition still due must not keep a stopped device alive.
        let device = Arc::downgrade(self);
        self.timer.after(self.transition_delay, move || {
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
                let data = self.run_result(&acquisition, None);
                self.complete(
                    &transition.done,
                    ApiCommandRequestResponse::success().with_data(&data),
                );
                self.announce(Announcement::RunStarted(&acquisition));
                *state = State::Acquiring(acquisition);
            }
            // Superseded, for instance by an emergency stop.
            other => {
                tracing::info!(
                    ticket,
                    "a start's timer ran after the start was superseded; ignored"
                );
                *state = other;
            }
        }
    }

    fn finish_stop(&self, ticket: u64) {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Idle) {
            State::Stopping {
                acquisition,
                transition,
            } if transition.ticket == ticket => {
                let reason = match self.generation {
                    Generation::V0_9 => "STOP_ACQUISITION",
                    Generation::V0_12 => "SET_APPLICATION_MODE",
                };
                let data = self.run_result(&acquisition, Some(reason));
                self.complete(
                    &transition.done,
                    ApiCommandRequestResponse::success().with_data(&data),
                );
                self.announce(Announcement::RunEnded(&acquisition, reason));
            }
            other => {
                tracing::info!(
                    ticket,
                    "a stop's timer ran after the stop was superseded; ignored"
                );
                *state = other;
            }
        }
    }

    /// Emergency stop: wins over everything (see the header of main.rs).
    pub fn emergency_stop(&self, reason: &str, origin: Origin) {
        let mut state = self.lock();
        let previous = std::mem::replace(
            &mut *state,
            State::EmergencyStopped {
                reason: reason.to_owned(),
                since: Instant::now(),
            },
        );
        self.announce(Announcement::EmergencyStop(reason, origin));
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
            self.announce(Announcement::RunEnded(&acquisition, &reason));
        }
    }

    pub fn emergency_resume(&self, reason: &str, origin: Origin) -> Result<(), Refusal> {
        let mut state = self.lock();
        let State::EmergencyStopped { since, .. } = &*state else {
            return Err(Refusal::NotEmergencyStopped);
        };
        let stopped_for = since.elapsed().as_secs_f64();
        *state = State::Idle;
        self.announce(Announcement::EmergencyResume {
            reason,
            origin,
            stopped_for_seconds: stopped_for,
        });
        Ok(())
    }

    /// The data of a run's COMMAND_RESULT: when it started (`ended` is
    /// `None`) or ended for the reason `ended`.
    fn run_result(&self, acquisition: &Acquisition, ended: Option<&str>) -> Value {
        match (self.generation, ended) {
            (Generation::V0_9, None) => acquisition.summary(),
            (Generation::V0_9, Some(reason)) => acquisition.ended_summary(reason),
            (Generation::V0_12, None) => mode_data(ApiApplicationMode::Running),
            (Generation::V0_12, Some(_)) => mode_data(ApiApplicationMode::Idle),
        }
    }

    /// Publishes `announcement` worded as an event of the device's generation.
    pub fn announce(&self, announcement: Announcement<'_>) {
        match self.generation {
            Generation::V0_9 => self.announce_v0_9(announcement),
            Generation::V0_12 => self.announce_v0_12(announcement),
        }
    }

    /// The 0.9.11 events: free-form contexts, as this example always had.
    fn announce_v0_9(&self, announcement: Announcement<'_>) {
        let (kind, context) = match announcement {
            Announcement::Launched => (ApiEventKind::ApplicationLaunched, None),
            Announcement::Terminating(_) => (ApiEventKind::ApplicationTerminating, None),
            Announcement::RunStarted(acquisition) => (
                ApiEventKind::AcquisitionStarted,
                Some(acquisition.summary()),
            ),
            Announcement::RunEnded(acquisition, reason) => (
                ApiEventKind::AcquisitionEnded,
                Some(acquisition.ended_summary(reason)),
            ),
            Announcement::EmergencyStop(reason, _) => (
                ApiEventKind::EmergencyStop,
                Some(json!({ "reason": reason })),
            ),
            Announcement::EmergencyResume {
                reason,
                stopped_for_seconds,
                ..
            } => (
                ApiEventKind::EmergencyResume,
                Some(json!({ "reason": reason, "stopped_for_seconds": stopped_for_seconds })),
            ),
        };
        self.publish(ApiEvent::new(kind, context));
    }

    // Publishing, with one log line per message.

    /// Publishes `event`, of either generation's kinds.
    pub fn publish<K: WireCode + std::fmt::Display + Copy>(&self, event: ApiEvent<K>) {
        let kind = event.kind;
        let shown = event
            .context
            .as_ref()
            .map(|c| format!(" {c}"))
            .unwrap_or_default();
        let topics = if event.is_emergency() {
            "EMERGENCY+EVENT"
        } else {
            "EVENT"
        };
        match self.publisher.publish_event(event) {
            Ok(()) => info!("published {topics} {kind}{shown}"),
            Err(error) => warn!("cannot publish {topics} {kind}: {}", error_chain(&error)),
        }
    }

    pub fn publish_property(&self, property: Value) {
        match self
            .publisher
            .publish_json(ApiTopic::PropertyChange, property.clone())
        {
            Ok(()) => info!("published PROPERTY_CHANGE {property}"),
            Err(error) => warn!("cannot publish PROPERTY_CHANGE: {}", error_chain(&error)),
        }
    }

    fn complete(&self, done: &CompletionHandle, response: ApiCommandRequestResponse) {
        let shown = response_text(&response);
        match done.complete(response) {
            Ok(()) => info!(
                "published COMMAND_RESULT {} nonce={} {shown}",
                done.command(),
                done.nonce()
            ),
            Err(error) => warn!(
                "cannot complete {} nonce={}: {}",
                done.command(),
                done.nonce(),
                error_chain(&error)
            ),
        }
    }
}

/// Logs one line for a command and its immediate answer.
pub(crate) fn log_command<C: std::fmt::Display>(
    request: &ApiCommandRequest<C>,
    response: &ApiCommandRequestResponse,
) {
    let data = request
        .data
        .as_ref()
        .map(|d| format!(" data={}", json_text(d)))
        .unwrap_or_default();
    info!(
        "command {} nonce={}{data} -> {}",
        request.command,
        request.nonce,
        response_text(response)
    );
}

/// A text field of the request's data (keys arrive in snake_case).
pub(crate) fn data_text<C>(request: &ApiCommandRequest<C>, key: &str) -> Option<String> {
    request.data.as_ref()?.get(key)?.as_str().map(str::to_owned)
}

/// The `reason` of the request's data, or `default`.
pub(crate) fn reason<C>(request: &ApiCommandRequest<C>, default: &str) -> String {
    data_text(request, "reason").unwrap_or_else(|| default.to_owned())
}
