//! The stand-in device: the state machine behind the protocol's commands.
//! Commands from the network and from the prompt go through the same
//! methods; every command and every message published is logged on one line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use auto_trainer_api::{
    ApiAppStatus, ApiCommand, ApiCommandRequest, ApiCommandRequestResponse, ApiEvent, ApiEventKind,
    ApiTopic, ApiTrainingMode, CompletionHandle, ConfigurationResponse, PendingCommand, Publisher,
    RequestContext, ServiceStats, StatusResponse,
};
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::common::text::{error_chain, json_text, response_text};
use crate::state::{Acquisition, Refusal, State, Transition};
use crate::timer::Timer;

/// The device publishes through a [`Publisher`]; the service (owned by
/// `main`) holds the device only through its command handler.
pub struct Device {
    publisher: Publisher,
    identifier: String,
    state: Mutex<State>,
    transition_delay: Duration,
    next_ticket: AtomicU64,
    timer: Timer,
}

impl Device {
    /// An idle device whose starts and stops take `transition_delay`.
    ///
    /// # Errors
    /// When its timer thread cannot start.
    pub fn new(
        publisher: Publisher,
        identifier: String,
        transition_delay: Duration,
    ) -> std::io::Result<Self> {
        Ok(Device {
            publisher,
            identifier,
            state: Mutex::new(State::Idle),
            transition_delay,
            next_ticket: AtomicU64::new(0),
            timer: Timer::start()?,
        })
    }

    pub fn identifier(&self) -> &str {
        &self.identifier
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

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The command handler: answers at once and logs one line per command.
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
            ApiCommand::StartAcquisition => self.start_acquisition(request, context),
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
            .map(|d| format!(" data={}", json_text(d)))
            .unwrap_or_default();
        info!(
            "command {} nonce={}{data} -> {}",
            request.command,
            request.nonce,
            response_text(&response)
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
            training_mode: ApiTrainingMode::Manual,
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
            device_id: self.identifier().to_owned(),
            configuration_location: location("configuration"),
            data_location: location("data"),
            animal_location: location("animals"),
            log_location: location("logs"),
            inference_model: "stand-in (no model)".to_owned(),
        }
    }

    fn start_acquisition(
        self: &Arc<Self>,
        request: &ApiCommandRequest,
        context: &RequestContext,
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
        if let Some(refusal) = state.refuse_stop() {
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
                let summary = acquisition.summary();
                self.complete(
                    &transition.done,
                    ApiCommandRequestResponse::success().with_data(&summary),
                );
                self.publish_event(ApiEventKind::AcquisitionStarted, Some(summary));
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
                let summary = acquisition.ended_summary("STOP_ACQUISITION");
                self.complete(
                    &transition.done,
                    ApiCommandRequestResponse::success().with_data(&summary),
                );
                self.publish_event(ApiEventKind::AcquisitionEnded, Some(summary));
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
    pub fn emergency_stop(&self, reason: &str) {
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

    pub fn emergency_resume(&self, reason: &str) -> Result<(), Refusal> {
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

    pub fn publish_event(&self, kind: ApiEventKind, context: Option<Value>) {
        let shown = context
            .as_ref()
            .map(|c| format!(" {c}"))
            .unwrap_or_default();
        let topics = if kind.is_emergency() {
            "EMERGENCY+EVENT"
        } else {
            "EVENT"
        };
        match self.publisher.publish_event(ApiEvent::new(kind, context)) {
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

/// A text field of the request's data (keys arrive in snake_case).
fn data_text(request: &ApiCommandRequest, key: &str) -> Option<String> {
    request.data.as_ref()?.get(key)?.as_str().map(str::to_owned)
}

/// The `reason` of the request's data, or `default`.
fn reason(request: &ApiCommandRequest, default: &str) -> String {
    data_text(request, "reason").unwrap_or_else(|| default.to_owned())
}
